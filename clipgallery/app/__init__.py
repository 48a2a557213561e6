"""The desktop app: a PySide6 (Qt 6) window over the Qt-free core.

Threads, one owner per resource that is not thread-safe:

* the UI thread owns every widget, QPixmap and the window's state;
* the indexing worker (:mod:`.indexing_worker`) owns the library's writer connection,
  the encoder loading, the indexer and the folder watcher;
* the search thread (:mod:`.search_worker`) owns a reader connection and runs queries;
* the image loader threads (:mod:`.image_loader`) decode thumbnails and previews into
  QImages.

They talk to the UI thread by Qt signals only.  Nothing here imports torch (through
``clipgallery.core.store.library``/``encoder``/``search``) on the UI thread: those imports
happen in the worker threads, so the window shows at once.
"""

from clipgallery.app.compat import protect_singletons as _protect_singletons

_protect_singletons()
