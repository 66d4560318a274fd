"""The demo: a synthetic province of hospitals and pharmacies (with labelled
violations), its files on disk and their loading through the real platform API,
synthetic records of one institution, the demo sign-in directory, and ``careledger
serve --demo``'s data folder.

Imported only by ``supervisor.cli``, tests and benchmarks: no production path can
reach demo accounts.

Owns: ``province``, ``pharmacies`` (the province's pharmacy part),
``province_catalogue``, ``province_files``, ``synthetic``, ``directory``, ``build``.
May import: ``supervisor.web`` and every room below.
"""
