"""A burst: N photos copied into a watched folder while the app runs (issue #7, item 3).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_burst.py [--count 10000]

Opens the real main window (offscreen) on a fresh library with the tiny test model and
one watched, empty folder; another process copies N small synthetic photos into it as
fast as the disk allows (each written beside the folder and renamed in, as file managers
do) while the UI thread runs the app's event loop; waits until the catalog holds them;
then checks every photo is indexed exactly once (one row per file, one vector per row,
the vector index in agreement) and prints the longest time the UI event loop went
without running a 10 ms timer during the whole burst.  ``--trace-stalls`` samples the
UI thread's stack and prints what it was doing during the longest stalls.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from _common import ROOT, machine, ready_watching_window, write_result  # noqa: E402

sys.path.insert(0, str(ROOT))

COPY = """
import os, shutil, sys, time
incoming, watched, files = sys.argv[1], sys.argv[2], sys.argv[3:]
t0 = time.monotonic()
for f in files:
    name = os.path.basename(f)
    shutil.copyfile(f, os.path.join(incoming, name))
    os.replace(os.path.join(incoming, name), os.path.join(watched, name))
print(time.monotonic() - t0)
"""


class StallTracer:
    """Samples the UI thread's Python stack every 5 ms from another thread."""

    def __init__(self) -> None:
        self.main = threading.get_ident()
        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            f = sys._current_frames().get(self.main)
            if f is not None:
                st = traceback.extract_stack(f)[-8:]
                self.samples.append((time.monotonic(), tuple(
                    f"{os.path.basename(x.filename)}:{x.lineno} {x.name}" for x in st)))
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()

    def report(self, gaps: list[tuple[float, float]]) -> None:
        for a, b in sorted(gaps, key=lambda g: g[0] - g[1])[:8]:
            inside = [s for t, s in self.samples if a <= t <= b + 0.01]
            print(f"--- stall {1000 * (b - a):.0f} ms, {len(inside)} samples of the UI thread")
            for st, n in collections.Counter(inside).most_common(2):
                print(f"  {n}x " + "\n      ".join(st))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--trace-stalls", action="store_true",
                    help="sample the UI thread's stack; print what ran in the longest stalls")
    args = ap.parse_args()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from clipgallery.core.store.catalog import INDEXED, Catalog
    from tests.conftest import TINY_CLIP
    from tests.conftest_app import GapMeter

    class StallMeter(GapMeter):
        """GapMeter that also keeps every gap over 100 ms (start, end)."""

        def __init__(self) -> None:
            super().__init__()
            self.gaps: list[tuple[float, float]] = []

        def _tick(self) -> None:
            now = time.monotonic()
            if self.last and now - self.last > 0.1:
                self.gaps.append((self.last, now))
            super()._tick()
    from tests.synthetic import make_folder

    source = Path(f"/tmp/clipgallery-burst-src-{args.count}")
    if len(list(source.glob("*.jpg"))) < args.count:
        make_folder(source, args.count, seed=77)
    files = sorted(source.glob("*.jpg"))[: args.count]
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        w, watched, incoming = ready_watching_window(app, Path(tmp), str(TINY_CLIP), 0.01)
        reader = Catalog(Path(tmp) / "library" / "catalog.sqlite3")
        meter = StallMeter()
        tracer = StallTracer() if args.trace_stalls else None
        meter.start()
        t0 = time.monotonic()
        # The burst, as fast as the disk allows, from another process (as a file
        # manager would copy): the UI thread runs only the app's event loop meanwhile.
        copier = subprocess.Popen([sys.executable, "-c", COPY, str(incoming), str(watched),
                                   *map(str, files)], stdout=subprocess.PIPE, text=True)
        state: dict[str, object] = {}

        def poll() -> None:  # every 100 ms: little UI-thread work of the benchmark's own
            if "copied" not in state and copier.poll() is not None:
                state["copied"] = float(copier.stdout.read().strip() or "nan")
            n = reader.counts().get(INDEXED, 0)
            if n >= args.count and w.is_settled() and "copied" in state:
                app.quit()
            elif time.monotonic() - t0 > args.timeout:
                state["timeout"] = n
                app.quit()

        timer = QTimer()
        timer.setInterval(100)
        timer.timeout.connect(poll)
        timer.start()
        app.exec()
        timer.stop()
        if "timeout" in state:
            raise SystemExit(f"only {state['timeout']} of {args.count} indexed after "
                             f"{args.timeout} s")
        copied = float(state["copied"])  # type: ignore[arg-type]
        total = time.monotonic() - t0
        meter.stop()
        if tracer is not None:
            tracer.stop()
        rows = reader.all_photos()
        paths = [p.path for p in rows]
        once = len(paths) == len(set(paths)) == args.count and all(
            p.status == INDEXED for p in rows)
        vectors = reader._q("SELECT COUNT(*) FROM embeddings")[0][0]
        agree = w.search_index_ids() == {p.id for p in rows} if hasattr(
            w, "search_index_ids") else None
        shown = w.results.rowCount()  # the all-photos grid at the end
        reader.close()
        w.close()
    print(f"{args.count} photos copied in {copied:.1f} s, all indexed {total:.1f} s after the "
          f"first copy ({args.count / total:.0f} photos/s)")
    print(f"indexed exactly once: {once} (rows {len(paths)}, vectors {vectors})"
          + ("" if agree is None else f", index agrees: {agree}"))
    print(f"photos listed in the window at the end: {shown}")
    print(f"longest UI stall during the burst: {meter.max_gap * 1000:.0f} ms "
          f"({meter.ticks} timer ticks); load average {os.getloadavg()}")
    if tracer is not None:
        tracer.report(meter.gaps)
    write_result("burst", {"machine": machine(), "count": args.count, "copy_s": copied,
                           "total_s": total, "exactly_once": once, "vectors": vectors,
                           "max_stall_ms": meter.max_gap * 1000,
                           "stalls_over_100ms": len(meter.gaps), "listed_at_end": shown,
                           "load_avg": os.getloadavg()})
    if not once or vectors != args.count:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
