"""Extract: find the inputs and turn their bytes into text.

:mod:`.discover` lists the inputs under the given paths (never following a
link out of them, never opening anything but a regular file, accounting for
every entry it does not read); :mod:`.decode` reads one input's bytes, within
the size cap, and decodes them (the one place that knows encodings).
"""
