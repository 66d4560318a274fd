"""What a platform runs: sign batches, submit them with retries, read and answer the
rectification notices to its institution, verify every receipt offline.

Owns: ``submit``, ``outbox``, ``notices``.
May import: ``ledger``, ``supervisor.intake`` (receipt verification, request
signing), ``supervisor.cases`` (response envelopes and receipts),
``supervisor.transparency`` (the monitor's checks) and the rooms below.
"""
