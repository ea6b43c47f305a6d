"""flows.archive: the read side of the Parquet archive.

- :mod:`.query` — DuckDB views over the archive, in a sandbox with no file system;
- :mod:`.files` — which files the views may read; check and quarantine.
"""
