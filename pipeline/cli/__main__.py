"""``python -m pipeline.cli``: the ``ogd`` command."""

from .main import main

main()
