"""Intake of mandatory transmissions from platforms: the signed envelope, the record
schema, platforms and their keys, signed read requests, the submission service and
its receipts.

Owns: ``envelope``, ``record_schema``, ``platforms``, ``request_signing``,
``submission``, ``receipts``.
May import: ``ledger``, ``supervisor.transparency`` (witnessed checkpoints in
receipts) and the rooms below.
"""
