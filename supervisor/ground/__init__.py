"""Shared ground below the capabilities: the entry vocabulary every capability reads.

Owns: ``records`` (the record entry type, its search row, unsealing, the leaf's
commitment), ``sealed_entries`` (entries whose details are sealed), ``china_time``
(the province's clock), ``ldap_server`` (where LDAP connections may go),
``logs`` (JSON log lines).
May import: ``ledger``, ``supervisor.custody``, ``supervisor.database``,
``supervisor.config``.
"""
