"""What a running careledger process holds, composed from the capabilities: the
services built from settings, the scheduled jobs and the scheduler that runs them,
and the replay that rebuilds every projection from the ledger.

The scheduler lives here rather than in ``reporting``: it also runs inspection
sweeps, checkpoints and witness collection, so it sits above every capability.

Owns: ``services``, ``schedules``, ``scheduler``, ``projections``.
May import: every capability room and the rooms below; never ``web``, ``cli`` or
``demo``.
"""
