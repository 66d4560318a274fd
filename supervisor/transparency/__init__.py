"""Transparency for auditors who trust nobody: the independent witness (C2SP
tlog-witness), the log's side of witnessing (collect and serve cosignatures), and
the auditors' monitor that checks everything the log signs.

Owns: ``witness``, ``witnessing``, ``monitor``.
May import: ``ledger`` and the rooms below (ground, custody, database, config).
"""
