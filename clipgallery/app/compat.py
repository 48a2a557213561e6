"""Work-arounds for the Qt binding, applied when ``clipgallery.app`` is imported.

PySide6 6.12 is built for the stable ABI as seen from CPython 3.12+, where ``None``,
``True`` and ``False`` are immortal.  On CPython 3.11 that build drops one reference
to them every time Qt calls a Python function that returns one of them (every slot,
timer callback, ``paintEvent``, ``data()`` returning None, …), so after a few
thousand callbacks the interpreter aborts with "none_dealloc: deallocating None" (or
"bool_dealloc").  3.12 made these objects immortal by giving them a huge reference
count; we do the same on older interpreters, once, before any thread starts.
"""

from __future__ import annotations

import sys

_IMMORTAL = 1 << 40  # far beyond what any number of lost references can use up


def protect_singletons() -> bool:
    """Give None/True/False/Ellipsis/NotImplemented an immortal-like refcount (CPython < 3.12).

    Returns True when it changed anything.
    """
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    import ctypes

    changed = False
    for obj in (None, True, False, Ellipsis, NotImplemented):
        ref = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is the first field
        if ref.value < _IMMORTAL:
            ref.value += _IMMORTAL
            changed = True
    return changed
