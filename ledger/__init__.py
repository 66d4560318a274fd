"""The append-only Merkle ledger: RFC 9162 proofs, C2SP checkpoints and tiles, on SQL.

Knows nothing of medicine or HTTP. ``proof.py`` (with ``hashing.py`` and
``errors.py``) checks proofs offline; ``store.py`` appends and builds proofs;
``integrity.py`` recomputes a stored log end to end.
"""
