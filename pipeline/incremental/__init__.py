"""Incremental builds: the previous package as the cache (:mod:`.previous`), its unchanged
leading batches copied byte for byte (:mod:`.reuse`), and Parquet footers re-written to cover
copied and new row groups (:mod:`.parquet_footer`)."""
