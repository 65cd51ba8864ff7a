"""ogd-pipeline: publish Thai government releases as open data.

Stages: :mod:`extract` -> :mod:`transform` -> :mod:`validate` -> :mod:`package`
-> :mod:`publish`; :mod:`build` runs the first four.
"""

import os

# PyThaiNLP must never reach for the network or write into the home folder:
# with these set, a missing corpus raises a clear "corpus-not-found" error.
os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")

__version__ = "0.1.0"

#: Bump when parsing or cleaning changes what a record holds: it is stored in
#: every record and keys the incremental-build cache.
PARSER_VERSION = "3"
