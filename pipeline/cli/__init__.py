"""The ``ogd`` command line: :mod:`.main` (the group and the console entry), one module per command,
:mod:`.common` (errors, JSON, progress). ``python -m pipeline.cli`` runs it."""
