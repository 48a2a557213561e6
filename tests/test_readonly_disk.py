"""A library whose disk turns read-only in the middle of indexing (README promise 4).

The library lives on a real ext4 file system in a loop device, mounted with
``errors=remount-ro``; writing to ``/sys/fs/ext4/<dev>/trigger_fs_error`` makes the
kernel declare an error, after which the file system refuses every write — exactly what
happens when a failing drive is switched to read-only under a running program.  (A plain
``mount -o remount,ro`` is refused with "mount point is busy" while files are open for
writing, and ``chmod`` does not stop root, so neither can do this.)

Needs root and loop devices; skipped elsewhere, with the reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from clipgallery.core.store.catalog import INDEXED, Catalog
from clipgallery.core.store.check import check
from clipgallery.core.store.library import Library
from tests import conftest_app as fixtures
from tests import synthetic

ROOT = Path(__file__).resolve().parent.parent


app_model = fixtures.app_model
core_imported = fixtures.core_imported
make_window = fixtures.make_window


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


class Ext4Disk:
    def __init__(self, image: Path, mount: Path) -> None:
        self.image = image
        self.mount = mount
        self.dev = ""

    def setup(self) -> None:
        if os.geteuid() != 0:
            pytest.skip("needs root (loop device and mount)")
        with open(self.image, "wb") as f:
            f.truncate(96 << 20)
        r = _run("mkfs.ext4", "-q", "-F", str(self.image))
        if r.returncode:
            pytest.skip(f"mkfs.ext4 failed: {r.stderr.strip()}")
        r = _run("losetup", "-f", "--show", str(self.image))
        if r.returncode:
            pytest.skip(f"no loop device: {r.stderr.strip()}")
        self.dev = r.stdout.strip()
        _run("blockdev", "--setrw", self.dev)
        self.mount.mkdir()
        self._mount()

    def _mount(self) -> None:
        r = _run("mount", "-o", "errors=remount-ro", self.dev, str(self.mount))
        if r.returncode:
            pytest.skip(f"cannot mount {self.dev}: {r.stderr.strip()}")
        os.chmod(self.mount, 0o755)

    @property
    def trigger(self) -> Path:
        return Path("/sys/fs/ext4") / Path(self.dev).name / "trigger_fs_error"

    def fail(self) -> None:
        """The kernel finds an error: the file system refuses all writes from now on."""
        self.trigger.write_text("clipgallery test: the drive failed\n")

    def repair(self) -> None:
        """Unmount, fsck, mount again: writable."""
        r = _run("umount", str(self.mount))
        assert r.returncode == 0, r.stderr
        _run("e2fsck", "-fy", self.dev)  # exit 1: errors fixed
        self._mount()

    def teardown(self) -> None:
        if self.dev:
            if _run("umount", str(self.mount)).returncode:
                _run("umount", "-l", str(self.mount))
            _run("losetup", "-d", self.dev)
        self.image.unlink(missing_ok=True)


@contextmanager
def ext4_disk(tmp_path: Path):
    disk = Ext4Disk(tmp_path / "disk.img", tmp_path / "disk")
    try:
        disk.setup()
        if not disk.trigger.exists():
            pytest.skip(f"{disk.trigger} does not exist (kernel without ext4 error injection)")
        yield disk
    finally:
        disk.teardown()


def _indexed(library: Path) -> int:
    try:
        with Catalog(library / "catalog.sqlite3", readonly=True) as reader:
            return reader.counts().get(INDEXED, 0)
    except Exception:  # noqa: BLE001 - being written: ask again
        return 0


def test_disk_turning_read_only_mid_run(tmp_path, tiny_model, cli):
    with ext4_disk(tmp_path) as disk:
        library = disk.mount / "library"
        folder = tmp_path / "photos"
        synthetic.make_folder(folder, 10, seed=5)
        cli.json("index", folder, "--library", library, "--model", tiny_model)
        synthetic.make_folder(folder / "more", 200, seed=6)
        proc = subprocess.Popen(
            [sys.executable, "-m", "clipgallery", "index", str(folder), "--library",
             str(library), "--batch-size", "8"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 300
            while _indexed(library) < 10 + 16 and proc.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.02)
            assert proc.poll() is None, "indexing ended before the disk could fail"
            # Freeze it between two instructions, fail the disk, let it run into the wall.
            proc.send_signal(signal.SIGSTOP)
            # What reached the drive survives its failure; the rest of the page cache is
            # lost with it, as with a real failing drive.
            synced = _indexed(library)  # committed before the sync: on the drive after it
            os.sync()
            disk.fail()
            proc.send_signal(signal.SIGCONT)
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 3, err
        assert "Cannot write to the library" in err and "read-only" in err, err
        assert "Traceback" not in err

        # Still readable on the read-only disk: status and search answer.
        status = cli.json("status", "--library", library)
        n_ro = status["indexed"]
        assert 10 <= n_ro < 210
        hits = cli.json("search", "a red circle", "--library", library, "--limit", "5")
        assert hits and all(Path(h["path"]).exists() for h in hits)
        # Indexing again on the read-only disk: the same clear message, at once.
        code, out, err = cli("index", folder, "--library", library)
        assert code == 3 and "read-only" in err and "Traceback" not in err, err

        # The drive is repaired: what was committed is consistent, and indexing resumes.
        disk.repair()
        with Library.open(library, write=True) as lib:
            assert check(lib).ok
            n = lib.catalog.counts()[INDEXED]
        assert n >= synced >= 10 + 16
        s = cli.json("index", folder, "--library", library)
        assert s["indexed"] == 210 - n
        with Library.open(library, write=True) as lib:
            assert check(lib).ok and lib.catalog.counts()[INDEXED] == 210


def test_app_pauses_indexing_and_keeps_searching(qtbot, tmp_path, make_window):
    from PySide6.QtWidgets import QMessageBox

    from tests.conftest_app import SPECS, wait_settled

    with ext4_disk(tmp_path) as disk:
        library = disk.mount / "library"
        folder = tmp_path / "photos"
        synthetic.make_folder(folder, 12, 5, specs=SPECS)
        w = make_window(library, folders=[str(folder)])
        wait_settled(qtbot, w)
        assert w.searchable == 12
        synthetic.make_folder(folder / "more", 200, 6, specs=SPECS)
        w.rescan_requested.emit()
        qtbot.waitUntil(lambda: w.index_status.phase == "indexing" and w.index_status.done > 0,
                        timeout=120_000)
        w.worker.pause()  # hold the run between two batches while the drive fails
        synced = _indexed(library)  # committed before the sync: on the drive after it
        os.sync()
        disk.fail()
        w.worker.resume()
        qtbot.waitUntil(lambda: w.storage_box is not None, timeout=120_000)
        box = w.storage_box
        assert box.objectName() == "storageMessage" and box.isVisible()
        assert "read-only" in box.text() and "can still be searched" in box.text()
        assert w.worker.paused and w.worker.storage_error
        assert "indexing paused" in w.status_label.text()
        # The catalog is readable and search answers from what was committed.
        with Catalog(library / "catalog.sqlite3", readonly=True) as reader:
            n = reader.counts()[INDEXED]
        assert 12 <= synced <= n < 212
        w.search_edit.setText("a red circle")
        w.search_now()
        qtbot.waitUntil(lambda: w.results.query.text == "a red circle"
                        and w.results.rowCount() > 0, timeout=30_000)
        # "Try Again" while the disk is still read-only: paused again, with the message.
        box.button(QMessageBox.StandardButton.Retry).click()
        qtbot.waitUntil(lambda: w.storage_box is not box, timeout=120_000)
        assert w.worker.paused and "read-only" in w.storage_box.text()
        w.storage_box.close()
        w.close()
        disk.repair()
        with Library.open(library, write=True) as lib:
            assert check(lib).ok
            assert lib.catalog.counts()[INDEXED] >= synced


def test_app_opens_a_library_on_a_read_only_disk_for_searching(qtbot, tmp_path, make_window,
                                                               cli, tiny_model):
    from tests.conftest_app import SPECS, wait_settled

    with ext4_disk(tmp_path) as disk:
        library = disk.mount / "library"
        folder = tmp_path / "photos"
        synthetic.make_folder(folder, 12, 5, specs=SPECS)
        cli.json("index", folder, "--library", library, "--model", tiny_model)
        os.sync()
        disk.fail()
        # Closed cleanly before the failure (no -shm file): still readable.
        assert cli.json("search", "a red circle", "--library", library, "--limit", "3")
        code, _out, err = cli("index", "--library", library)
        assert code == 3 and "read-only" in err
        w = make_window(library)
        qtbot.waitUntil(lambda: w.storage_box is not None, timeout=120_000)
        assert "read-only" in w.storage_box.text() and "restart" in w.storage_box.text()
        assert w.library_state == "open" and w.worker.paused
        w.storage_box.close()
        wait_settled(qtbot, w)
        assert w.searchable == 12 and w.sidebar.folders()[0].indexed == 12
        w.search_edit.setText("a red circle")
        w.search_now()
        qtbot.waitUntil(lambda: w.results.query.text == "a red circle"
                        and w.results.rowCount() > 0, timeout=30_000)
        w.add_folder(tmp_path)  # refused with a message, nothing breaks
        qtbot.waitUntil(lambda: "read-only" in w.statusBar().currentMessage(), timeout=30_000)
        w.close()
