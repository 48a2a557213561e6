"""Getting photos into a library: the indexer (decode-ahead pool feeding one model),
the folder watcher and its debouncing, and the indexing session shared by CLI and app.
"""
