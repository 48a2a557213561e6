"""Where a library lives on disk: the SQLite catalog (every SQL statement of the project
is in ``catalog.py``), the hnswlib vector index, the library that ties them to a model,
the per-user paths and the consistency check.
"""
