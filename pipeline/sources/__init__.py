"""Source formats: one module per format, each defining ``SOURCE`` (a
:class:`pipeline.sources.base.Source`); :mod:`pipeline.sources.registry` finds
them. Shared types and helpers are in :mod:`pipeline.sources.base`.
"""
