"""What a platform runs: sign batches, submit them with retries, verify every receipt
offline.

Owns: ``submit``.
May import: ``ledger``, ``supervisor.intake`` (receipt verification, request
signing), ``supervisor.transparency`` (the monitor's checks) and the rooms below.
"""
