"""``python -m supervisor.cli``: the same as the ``careledger`` command."""

from . import main

main()
