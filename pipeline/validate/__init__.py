"""Validate: the Table Schema's rules compiled once (:mod:`.rules`), records as they are built
(:mod:`.records`), whole tables column by column with Frictionless' exact errors (:mod:`.tables`),
and Frictionless itself, the reference (:mod:`.reference`)."""
