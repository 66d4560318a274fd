"""``python -m supervisor.cli``: the same as the ``careledger`` command."""

from supervisor.cli import main

main()
