"""Harvesting agency websites into a web archive (WARC files plus an index): ``ogd harvest``.

Modules: ``settings`` (sources and etiquette from datasets.toml), ``outcomes``
(the stable codes of what happened to each fetch), ``throttle`` (per-host
politeness), ``robots`` (robots.txt), ``fetch`` (one polite HTTP exchange,
retries and redirects), ``archive`` (WARC files, index and state),
``discover`` (feeds, WordPress, sitemaps, listing pages), ``run`` (a harvest).
"""
