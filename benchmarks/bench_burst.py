"""A burst: N photos copied into a watched folder while the app runs (issue #7, item 3).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_burst.py [--count 10000]

Opens the real main window (offscreen) on a fresh library with the tiny test model and
one watched, empty folder; copies N small synthetic photos into it as fast as the disk
allows (each written beside the folder and renamed in, as file managers do); waits until
the catalog holds them; then checks every photo is indexed exactly once (one row per
file, one vector per row, the vector index in agreement) and prints the longest time
the UI event loop went without running a 10 ms timer during the whole burst.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from _common import ROOT, machine, write_result  # noqa: E402

sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()

    from PySide6.QtWidgets import QApplication

    from clipgallery.app.window import MainWindow
    from clipgallery.core.catalog import INDEXED, Catalog
    from tests.conftest import TINY_CLIP
    from tests.conftest_app import GapMeter
    from tests.synthetic import make_folder

    source = Path(f"/tmp/clipgallery-burst-src-{args.count}")
    if len(list(source.glob("*.jpg"))) < args.count:
        make_folder(source, args.count, seed=77)
    files = sorted(source.glob("*.jpg"))[: args.count]
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        watched = Path(tmp) / "watched"
        watched.mkdir()
        incoming = Path(tmp) / ".incoming"
        incoming.mkdir()
        w = MainWindow(Path(tmp) / "library", model=str(TINY_CLIP), folders=[str(watched)],
                       interactive=False)
        w.resize(1100, 760)
        w.show()
        w.start()
        deadline = time.monotonic() + 600
        while w.model_state != "ready" or not w.is_settled():
            app.processEvents()
            time.sleep(0.01)
            if time.monotonic() > deadline:
                raise SystemExit("the app did not become ready")
        reader = Catalog(Path(tmp) / "library" / "catalog.sqlite3")
        meter = GapMeter()
        meter.start()
        t0 = time.monotonic()
        for i, f in enumerate(files):  # the burst: as fast as the disk allows
            shutil.copyfile(f, incoming / f.name)
            os.replace(incoming / f.name, watched / f.name)
            if i % 50 == 0:
                app.processEvents()
        copied = time.monotonic() - t0
        while True:
            app.processEvents()
            time.sleep(0.005)
            n = reader.counts().get(INDEXED, 0)
            if n >= args.count and w.is_settled():
                break
            if time.monotonic() - t0 > args.timeout:
                raise SystemExit(f"only {n} of {args.count} indexed after {args.timeout} s")
        total = time.monotonic() - t0
        meter.stop()
        rows = reader.all_photos()
        paths = [p.path for p in rows]
        once = len(paths) == len(set(paths)) == args.count and all(
            p.status == INDEXED for p in rows)
        vectors = reader._q("SELECT COUNT(*) FROM embeddings")[0][0]
        agree = w.search_index_ids() == {p.id for p in rows} if hasattr(
            w, "search_index_ids") else None
        reader.close()
        w.close()
    print(f"{args.count} photos copied in {copied:.1f} s, all indexed {total:.1f} s after the "
          f"first copy ({args.count / total:.0f} photos/s)")
    print(f"indexed exactly once: {once} (rows {len(paths)}, vectors {vectors})"
          + ("" if agree is None else f", index agrees: {agree}"))
    print(f"longest UI stall during the burst: {meter.max_gap * 1000:.0f} ms "
          f"({meter.ticks} timer ticks)")
    write_result("burst", {"machine": machine(), "count": args.count, "copy_s": copied,
                           "total_s": total, "exactly_once": once, "vectors": vectors,
                           "max_stall_ms": meter.max_gap * 1000})
    if not once or vectors != args.count:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
