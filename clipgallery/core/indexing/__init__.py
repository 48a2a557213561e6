"""Getting photos into a library: the indexing session shared by the CLI and the app
(``session``), the indexer (``indexer``: decode-ahead pool feeding one model), the
folder watcher (``watcher``), its debouncing (``debounce``) and the queue of requests
waiting for the next run (``pending``).
"""
