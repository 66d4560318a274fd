"""careledger's edge: everything that speaks HTTP, LDAP, SMTP or the command line,
arranged in rooms, one per capability. Each room's ``__init__`` says what it owns and
what it may import; ``pyproject.toml``'s import-linter contracts check it.

From the top down (a room imports only rooms below it)::

    cli                     the careledger command
    demo                    the demo province, its files and sign-in (cli and tests only)
    web                     the Flask app: API, public log, portal, health, metrics
    runtime                 the composition: services, the scheduler, projection replay
    reporting | client      reports; what a platform runs
    inspection | intake     rules over records, triage, reference data; batches in
    transparency            witnesses, cosignatures, the auditors' monitor
    ground                  entry vocabulary every capability reads
    custody                 keys, sealed payloads, backup, retention, rotation
    database                tables, engines, migrations, roles
    config                  settings (the one module at the bottom of the hall)
"""
