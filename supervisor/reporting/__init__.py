"""Reporting: computing a report at a signed checkpoint from the ledger alone, reading
its sources, publishing it as a ledger entry, and verifying a report file later.

Owns: ``computation``, ``sources``, ``publication``, ``service``, ``verification``.
May import: ``ledger``, ``reports``, ``supervisor.inspection`` (finding entries) and
the rooms below; never ``intake`` or ``client``.
"""
