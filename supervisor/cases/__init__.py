"""Cases: what regulators act on. The findings that share one cause, the steps people
take on them (acknowledge, order rectification, review answers, escalate, dismiss),
the rectification notices issued to institutions, the platforms' signed responses,
deadlines and escalation, and alerts of the gravest cases to the regulators on duty.

Grouping findings into cases happens where findings are recorded
(``supervisor.inspection.case_grouping``); every decision here is a ledger entry,
projected into ``cases``, ``case_events``, ``notices`` and ``notice_responses``.

Owns: ``lifecycle``, ``events``, ``notice_document``, ``responses``, ``service``,
``alerts`` and ``alert_message``.
May import: ``ledger``, ``inspectors``, ``reports`` (the notice PDF), ``inspection``,
``intake`` (platform keys, receipts) and the rooms below; never ``web``, ``cli``,
``runtime`` or ``reporting``.
"""
