"""Build: extract -> transform -> validate -> package, for one dataset.

:mod:`.run` orchestrates one build (output checks, lock, writer, report,
swap); :mod:`.executor` transforms the inputs on worker processes, in input
order, reusing the previous package's outcomes where the input is unchanged.
"""
