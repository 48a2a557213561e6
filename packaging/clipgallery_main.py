"""Entry point of the frozen app (PyInstaller's script): the same ``clipgallery`` command.

``clipgallery`` alone opens the desktop app; ``clipgallery index|search|status|model|gui``
work exactly as in a source install (see ``clipgallery/cli.py``).
"""

import multiprocessing
import sys

if __name__ == "__main__":
    # A frozen app that (or whose libraries) starts worker processes must call this
    # first, or each child would run the whole app again (Windows, macOS "spawn").
    multiprocessing.freeze_support()

    if sys.argv[1:2] == ["--clipgallery-decoder-child"]:
        # A decode child of clipgallery.core.photos.guard (FROZEN_CHILD_FLAG): the frozen
        # app's executable has no ``-c``, so it serves decodes when started this way.
        from clipgallery.core.photos.guard import serve

        serve()
        sys.exit(0)

    from clipgallery.cli import main

    sys.exit(main())
