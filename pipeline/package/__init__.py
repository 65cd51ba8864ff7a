"""Package: write a Frictionless data package, streaming, atomically.

:mod:`.layout` names the files of a package; :mod:`.writer` streams rows into
the CSV, Parquet and spreadsheet files in batches and keeps the quarantine;
:mod:`.quarantine` the kept copies; :mod:`.descriptor` writes
``datapackage.json``; :mod:`.files` hashes while writing; :mod:`.output`
decides whether an output folder may be written at all, locks it and swaps a
finished build in.
"""
