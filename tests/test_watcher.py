"""FolderWatcher against real watchdog events on a temporary folder."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watchdog.observers import Observer

from clipgallery.core.indexing.watcher import ChangeSet, FolderWatcher

DEBOUNCE = 0.2
SETTLE = 0.3


class Recorder:
    """Collects the change sets and the status messages a watcher delivers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sets: list[tuple[float, ChangeSet]] = []
        self.statuses: list[str] = []
        self.sizes: dict[Path, int] = {}  # size of each delivered path when delivered

    def on_changes(self, cs: ChangeSet) -> None:
        sizes = {p: p.stat().st_size for p in cs.paths if p.is_file()}
        with self.lock:
            self.sets.append((time.monotonic(), cs))
            self.sizes.update(sizes)

    def on_status(self, msg: str) -> None:
        with self.lock:
            self.statuses.append(msg)

    @property
    def paths(self) -> list[Path]:
        with self.lock:
            return [p for _, cs in self.sets for p in cs.paths]

    @property
    def folders(self) -> list[Path]:
        with self.lock:
            return [p for _, cs in self.sets for p in cs.folders]

    def clear(self) -> None:
        with self.lock:
            self.sets.clear()
            self.statuses.clear()

    def wait(self, cond: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            time.sleep(0.02)
        return cond()


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def make(rec: Recorder) -> Iterator[Callable[..., FolderWatcher]]:
    made: list[FolderWatcher] = []

    def make(**kw: object) -> FolderWatcher:
        kw.setdefault("debounce", DEBOUNCE)
        kw.setdefault("settle", SETTLE)
        kw.setdefault("on_status", rec.on_status)
        w = FolderWatcher(rec.on_changes, **kw)  # type: ignore[arg-type]
        made.append(w)
        w.start()
        return w

    yield make
    for w in made:
        w.stop()


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    d = tmp_path / "library"
    d.mkdir()
    return d


def settle_quiet(rec: Recorder) -> None:
    """Wait until nothing has been delivered for a while (the setup's own events)."""
    last = -1
    while True:
        time.sleep(DEBOUNCE + SETTLE + 0.2)
        n = len(rec.sets)
        if n == last:
            return
        last = n


# -- basic events ----------------------------------------------------------------


def test_create_modify_delete_move(make: Callable[..., FolderWatcher], rec: Recorder, lib: Path) -> None:
    w = make()
    assert w.watch(lib) is True
    assert w.watched() == {lib: "live"}

    a = lib / "a.jpg"
    a.write_bytes(b"x" * 100)
    assert rec.wait(lambda: a in rec.paths)
    time.sleep(DEBOUNCE + SETTLE + 0.2)
    assert rec.paths.count(a) == 1, "one creation is delivered once"
    assert rec.folders == []

    rec.clear()
    with open(a, "ab") as fh:
        fh.write(b"more")
    assert rec.wait(lambda: a in rec.paths)

    rec.clear()
    b = lib / "b.jpg"
    a.rename(b)
    assert rec.wait(lambda: {a, b} <= set(rec.paths))

    rec.clear()
    b.unlink()
    assert rec.wait(lambda: b in rec.paths)
    time.sleep(DEBOUNCE + 0.2)
    assert rec.paths == [b] and rec.folders == []


def test_subfolder_with_files(make: Callable[..., FolderWatcher], rec: Recorder, lib: Path) -> None:
    w = make()
    w.watch(lib)
    sub = lib / "2024" / "trip"
    sub.mkdir(parents=True)
    files = [sub / f"p{i}.jpg" for i in range(5)]
    for f in files:
        f.write_bytes(b"jpeg")

    def covered(p: Path) -> bool:
        return p in rec.paths or any(p.is_relative_to(f) for f in rec.folders)

    assert rec.wait(lambda: all(covered(f) for f in files))
    assert rec.wait(lambda: lib / "2024" in rec.folders or sub in rec.folders)

    # Deleting the folder asks for a rescan of its (existing) parent, never of the
    # vanished folder itself (the indexer would take that for an unplugged drive).
    rec.clear()
    shutil.rmtree(lib / "2024")
    assert rec.wait(lambda: lib in rec.folders)
    assert all(f.exists() for f in rec.folders)


def test_hidden_and_irrelevant_files_are_ignored(make: Callable[..., FolderWatcher], rec: Recorder,
                                                 lib: Path) -> None:
    w = make(is_relevant=lambda p: p.suffix.lower() in {".jpg", ".png"})
    w.watch(lib)
    (lib / ".hidden.jpg").write_bytes(b"x")
    (lib / "notes.txt").write_bytes(b"x")
    (lib / ".thumbs").mkdir()
    (lib / ".thumbs" / "t.jpg").write_bytes(b"x")
    (lib / "ok.png").write_bytes(b"x")
    assert rec.wait(lambda: lib / "ok.png" in rec.paths)
    time.sleep(DEBOUNCE + SETTLE + 0.2)
    assert set(rec.paths) == {lib / "ok.png"}
    assert rec.folders == []


def test_symlinked_folder_reports_paths_below_the_link(make: Callable[..., FolderWatcher],
                                                       rec: Recorder, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    w = make()
    assert w.watch(link) is True
    (real / "a.jpg").write_bytes(b"x")
    assert rec.wait(lambda: link / "a.jpg" in rec.paths)

    # The same folder under both names shares one OS watch; dropping one keeps the other.
    assert w.watch(real) is True
    (real / "b.jpg").write_bytes(b"x")
    assert rec.wait(lambda: {link / "b.jpg", real / "b.jpg"} <= set(rec.paths))
    w.unwatch(link)
    (real / "c.jpg").write_bytes(b"x")
    assert rec.wait(lambda: real / "c.jpg" in rec.paths)
    assert link / "c.jpg" not in rec.paths


# -- writers and bursts ---------------------------------------------------------------


def test_file_written_slowly_is_delivered_when_complete(make: Callable[..., FolderWatcher],
                                                        rec: Recorder, lib: Path) -> None:
    w = make(settle=0.5)
    w.watch(lib)
    f = lib / "big.jpg"
    chunk = b"z" * 4096
    gaps = []
    early = False
    with open(f, "wb") as fh:  # one handle: no close until the end
        for _ in range(12):  # ~1.5 s, a write every 0.125 s (less than settle)
            t = time.monotonic()
            fh.write(chunk)
            fh.flush()
            time.sleep(0.125)
            gaps.append(time.monotonic() - t)
            early = early or f in rec.paths
    final = f.stat().st_size
    if max(gaps) > 0.45:
        pytest.skip(f"the machine is too busy: the writer itself paused {max(gaps):.2f} s")
    assert not early, "delivered while still being written"
    assert rec.wait(lambda: f in rec.paths)
    assert rec.sizes[f] == final == 12 * len(chunk)
    assert rec.paths.count(f) == 1


def test_file_growing_without_close_is_held_until_stable(make: Callable[..., FolderWatcher],
                                                         rec: Recorder, lib: Path) -> None:
    w = make(settle=0.5)
    w.watch(lib)
    f = lib / "dl.jpg"
    fh = open(f, "wb")  # noqa: SIM115 - the writer keeps the file open on purpose
    try:
        for _ in range(6):
            time.sleep(0.15)
            fh.write(b"y" * 1000)
            fh.flush()
        t_last_write = time.monotonic()
        assert f not in rec.paths
        assert rec.wait(lambda: f in rec.paths)
        t_delivered = next(t for t, cs in rec.sets if f in cs.paths)
        assert t_delivered - t_last_write >= 0.5 - 0.05  # settle, counted from the last write
        assert rec.sizes[f] == 6000
    finally:
        fh.close()


def test_burst_of_500_files_arrives_complete_in_a_few_batches(make: Callable[..., FolderWatcher],
                                                              rec: Recorder, lib: Path) -> None:
    w = make()
    w.watch(lib)
    files = {lib / f"img_{i:04d}.jpg" for i in range(500)}
    for f in sorted(files):
        f.write_bytes(b"p" * 256)
    assert rec.wait(lambda: set(rec.paths) >= files, timeout=10)
    assert set(rec.paths) == files
    assert len(rec.sets) <= 10, f"{len(rec.sets)} batches"  # a handful, not one per file


def test_a_long_burst_streams_in_batches(make: Callable[..., FolderWatcher], rec: Recorder,
                                         lib: Path) -> None:
    w = make(max_batch_delay=0.4)
    w.watch(lib)
    end = time.monotonic() + 1.5
    i = 0
    delivered_during_burst = False
    while time.monotonic() < end:
        (lib / f"c{i:05d}.jpg").write_bytes(b"q")
        i += 1
        delivered_during_burst = delivered_during_burst or bool(rec.sets)
        time.sleep(0.01)
    assert delivered_during_burst, "nothing was delivered before the burst ended"
    files = {lib / f"c{j:05d}.jpg" for j in range(i)}
    assert rec.wait(lambda: set(rec.paths) >= files)
    assert 2 <= len(rec.sets) <= max(8, i // 10), f"{len(rec.sets)} batches for {i} files"


# -- limits and fallbacks -------------------------------------------------------------


class RefusingObserver(Observer):  # type: ignore[misc,valid-type]
    """The native observer, but refusing watches below ``refuse`` like a full inotify."""

    refuse: Path

    def schedule(self, event_handler, path, **kw):  # type: ignore[no-untyped-def]
        if Path(path).is_relative_to(self.refuse):
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return super().schedule(event_handler, path, **kw)


def test_watch_limit_falls_back_to_periodic_rescans(make: Callable[..., FolderWatcher],
                                                    rec: Recorder, tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    ok = tmp_path / "ok"
    ok.mkdir()

    def factory() -> Observer:
        o = RefusingObserver()
        o.refuse = full.resolve()
        return o

    w = make(observer_factory=factory, rescan_interval=0.4)
    assert w.watch(full) is False
    assert w.watch(ok) is True
    assert w.watched() == {full: "polling", ok: "live"}
    assert rec.wait(lambda: len(rec.statuses) == 1)
    msg = rec.statuses[0]
    assert "limit" in msg and str(full) in msg
    if sys.platform.startswith("linux"):
        assert "max_user_watches" in msg

    t0 = time.monotonic()
    assert rec.wait(lambda: rec.folders.count(full) >= 3, timeout=5)
    assert time.monotonic() - t0 >= 2 * 0.4 - 0.1  # periodic, not a flood
    assert ok not in rec.folders
    assert len(rec.statuses) == 1, "told once"
    (ok / "x.jpg").write_bytes(b"x")  # the other folder is still live
    assert rec.wait(lambda: ok / "x.jpg" in rec.paths)


LIMIT_SCRIPT = r"""
import json, os, sys, time
from pathlib import Path
from clipgallery.core.indexing.watcher import FolderWatcher

base = Path(sys.argv[1])
out = {"statuses": [], "folders": []}
w = FolderWatcher(lambda cs: out["folders"].extend(map(str, cs.folders)), debounce=0.1,
                  settle=0.2, rescan_interval=0.3, on_status=out["statuses"].append)
w.start()
small, big = base / "small", base / "big"
(small / "s").mkdir(parents=True)
deep = big
for i in range(10):
    deep = deep / f"d{i}"
deep.mkdir(parents=True)
def wait(cond):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not cond():
        time.sleep(0.02)

out["small"] = w.watch(small)          # 2 watches of 8
out["big"] = w.watch(big)              # 11 needed: only partly watched -> rescans
wait(lambda: out["folders"].count(str(big)) >= 2)
out["after_big"] = {str(k): v for k, v in w.watched().items()}
for i in range(10):                    # new subfolders beyond the limit
    (small / f"n{i}").mkdir()
wait(lambda: str(small) in out["folders"] and len(out["statuses"]) >= 2)
out["final"] = {str(k): v for k, v in w.watched().items()}
w.stop()
print(json.dumps(out))
"""


def _unshare_works() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    try:
        r = subprocess.run(["unshare", "-Ur", "sh", "-c", "echo 8 > /proc/sys/user/max_inotify_watches"],
                           capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs unshare -Ur (a private user namespace)")
def test_real_inotify_watch_limit(tmp_path: Path) -> None:
    """The real kernel limit, lowered inside a private user namespace only (no system change)."""
    script = tmp_path / "limit.py"
    script.write_text(textwrap.dedent(LIMIT_SCRIPT))
    root = Path(__file__).resolve().parents[1]
    cmd = f'echo 8 > /proc/sys/user/max_inotify_watches && exec "{sys.executable}" "{script}" "{tmp_path}"'
    r = subprocess.run(["unshare", "-Ur", "sh", "-c", cmd], capture_output=True, text=True,
                       timeout=60, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    small, big = str(tmp_path / "small"), str(tmp_path / "big")
    assert out["small"] is True
    assert out["big"] is False
    assert out["after_big"] == {small: "live", big: "polling"}
    assert out["final"] == {small: "polling", big: "polling"}
    assert len(out["statuses"]) == 2
    assert all("max_user_watches" in m for m in out["statuses"])
    assert out["folders"].count(big) >= 2  # rescanned periodically
    assert small in out["folders"]  # rescanned when it fell back (new folders were missed)


def test_offline_folder_comes_back_and_goes_away(make: Callable[..., FolderWatcher],
                                                 rec: Recorder, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    w = make(rescan_interval=0.3)
    assert w.watch(drive) is False
    assert w.watched() == {drive: "offline"}
    assert rec.wait(lambda: len(rec.statuses) == 1)
    time.sleep(0.5)
    assert rec.folders == []  # nothing to rescan while offline

    drive.mkdir()
    (drive / "a.jpg").write_bytes(b"x")
    assert rec.wait(lambda: drive in rec.folders)
    assert w.watched() == {drive: "live"}
    (drive / "b.jpg").write_bytes(b"x")  # watched live again
    assert rec.wait(lambda: drive / "b.jpg" in rec.paths)

    rec.clear()
    shutil.rmtree(drive)  # unplugged
    assert rec.wait(lambda: w.watched() == {drive: "offline"})
    assert rec.wait(lambda: drive in rec.folders)  # the indexer then marks it offline


def test_replaced_folder_is_watched_again(make: Callable[..., FolderWatcher], rec: Recorder,
                                          tmp_path: Path) -> None:
    """A root renamed away and replaced (inotify says nothing): the periodic check sees it."""
    lib = tmp_path / "lib"
    lib.mkdir()
    w = make(rescan_interval=0.3)
    assert w.watch(lib) is True
    lib.rename(tmp_path / "old")
    lib.mkdir()
    assert rec.wait(lambda: lib in rec.folders)
    assert w.watched() == {lib: "live"}
    (lib / "new.jpg").write_bytes(b"x")
    assert rec.wait(lambda: lib / "new.jpg" in rec.paths)
    (tmp_path / "old" / "gone.jpg").write_bytes(b"x")  # the old tree is no longer watched
    time.sleep(DEBOUNCE + SETTLE + 0.2)
    assert not any(p.name == "gone.jpg" for p in rec.paths)


def test_event_overflow_rescans_live_folders(make: Callable[..., FolderWatcher], rec: Recorder,
                                             lib: Path) -> None:
    """A real IN_Q_OVERFLOW: the reader thread is held up while the kernel queue fills."""
    queued = Path("/proc/sys/fs/inotify/max_queued_events")
    w = make()
    w.watch(lib)
    reader = getattr(w._observer, "_inotify_fd", None)
    if not queued.exists() or reader is None or not hasattr(reader, "_lock"):
        pytest.skip("inotify internals not available")
    # + more than the reader's buffer (2048 slots of 40 bytes): it may still read once
    n = int(queued.read_text()) + 8192
    if n > 1_000_000:
        pytest.skip("max_queued_events too large to overflow quickly")
    a = os.open(lib / "a.jpg", os.O_CREAT | os.O_WRONLY)
    b = os.open(lib / "b.jpg", os.O_CREAT | os.O_WRONLY)
    try:
        assert rec.wait(lambda: {lib / "a.jpg", lib / "b.jpg"} <= set(rec.paths))
        rec.clear()
        with reader._lock:  # alternating names: the kernel cannot coalesce the events
            for _ in range(n // 2 + 1):
                os.write(a, b"x")
                os.write(b, b"x")
    finally:
        os.close(a)
        os.close(b)
    assert rec.wait(lambda: lib in rec.folders, timeout=20)  # watchdog works through 16k events


# -- threads ------------------------------------------------------------------------


def test_watch_unwatch_from_many_threads(make: Callable[..., FolderWatcher], rec: Recorder,
                                         tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folders = [tmp_path / f"f{i}" for i in range(4)]
    for f in folders:
        f.mkdir()
    w = make()
    errors: list[BaseException] = []
    stop = threading.Event()

    def churn(f: Path) -> None:
        try:
            while not stop.is_set():
                w.watch(f)
                (f / f"x{time.monotonic_ns()}.jpg").write_bytes(b"x")
                w.unwatch(f)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    with caplog.at_level(logging.ERROR, logger="clipgallery.core.indexing.watcher"):
        threads = [threading.Thread(target=churn, args=(f,)) for f in folders]
        for t in threads:
            t.start()
        time.sleep(0.6)
        stop.set()
        for t in threads:
            t.join()
        assert errors == []
        assert w.watched() == {}
        w.watch(folders[0])
        (folders[0] / "final.jpg").write_bytes(b"x")
        assert rec.wait(lambda: folders[0] / "final.jpg" in rec.paths)
    # (watchdog itself may log a benign ERROR when a watch is removed while its events flow)
    assert not [r for r in caplog.records
                if r.levelno >= logging.ERROR and r.name.startswith("clipgallery")]


def test_stop_leaves_no_threads_and_is_idempotent(rec: Recorder, lib: Path) -> None:
    before = set(threading.enumerate())
    w = FolderWatcher(rec.on_changes, debounce=DEBOUNCE, settle=SETTLE)
    w.watch(lib)  # before start(): watches at once, delivers after start()
    (lib / "early.jpg").write_bytes(b"x")
    w.start()
    assert rec.wait(lambda: lib / "early.jpg" in rec.paths)
    assert len(set(threading.enumerate()) - before) >= 3  # observer, emitter, reader, ours
    w.stop()
    w.stop()
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(RuntimeError):
        w.watch(lib)


EXIT_SCRIPT = r"""
import sys, time
from pathlib import Path
from clipgallery.core.indexing.watcher import FolderWatcher
w = FolderWatcher(lambda cs: None, debounce=0.05, settle=0.05)
w.start()
w.watch(sys.argv[1])
Path(sys.argv[1], "a.jpg").write_bytes(b"x")
time.sleep(0.2)
if sys.argv[2] == "stop":
    w.stop()
"""


@pytest.mark.parametrize("how", ["stop", "no-stop"])
def test_clean_interpreter_exit(lib: Path, tmp_path: Path, how: str) -> None:
    script = tmp_path / "exit.py"
    script.write_text(EXIT_SCRIPT)
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(script), str(lib), how], capture_output=True,
                       text=True, timeout=30, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert r.returncode == 0
    assert r.stderr == ""
