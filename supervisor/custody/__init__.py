"""Custody of the data and its keys: sealed payloads and data keys, key files, the data
folder (``careledger init``), backup and restore, retention by crypto-shredding, and
rotation of the master key and of the log signing key.

Owns: ``payload_keys``, ``key_files``, ``data_folder``, ``backup``, ``retention``,
``master_rewrap``, ``log_rotation``.
May import: ``ledger``, ``supervisor.database``, ``supervisor.config``.
"""
