"""Inspection: running the rules over records as they arrive (the follower and its
lease), the records they relate to, reference data and the LDAP registry sync, the
regulators' triage of findings, grouping findings into cases as they are recorded,
findings export, and the access trail of every look at patient-level data.

Owns: ``inspector``, ``follower``, ``leases``, ``related_records``, ``reference_data``,
``registry_sync``, ``triage``, ``case_grouping``, ``findings_export``, ``access_trail``.
May import: ``ledger``, ``inspectors`` and the rooms below (transparency, ground,
custody, database, config); never ``intake``.
"""
