"""Killing the indexer (SIGKILL) mid-run loses at most a batch and never duplicates."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clipgallery.core.store.catalog import INDEXED
from clipgallery.core.store.library import Library
from tests import synthetic

ROOT = Path(__file__).resolve().parent.parent


def indexer_process(folder: Path, library: Path, model: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "clipgallery", "index", str(folder), "--library", str(library),
         "--model", model, "--batch-size", "4", "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def embedded(library: Path) -> int:
    try:
        with sqlite3.connect(f"file:{library / 'catalog.sqlite3'}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    except sqlite3.Error:
        return 0


def assert_consistent(library: Path, files: list[Path], model_spec: str) -> None:
    with Library.open(library, write=True) as lib:
        cat = lib.catalog
        rows = cat.all_photos()
        assert sorted(p.path for p in rows) == sorted(files)  # each file exactly once
        assert all(p.status == INDEXED for p in rows)
        enc = lib.load_encoder(model_spec)
        n = cat._q("SELECT COUNT(*) FROM embeddings")[0][0]
        assert n == len(files)  # no orphaned or duplicate vectors
        idx = lib.index_for(enc)
        assert idx.ids() == {p.id for p in rows}  # catalog and hnswlib index agree


@pytest.mark.parametrize("kill_after", [1, 9])
def test_sigkill_mid_run_then_resume(tmp_path, tiny_model, kill_after):
    folder = tmp_path / "photos"
    files = [p for p, _ in synthetic.make_folder(folder, 80, seed=kill_after)]
    library = tmp_path / "library"
    proc = indexer_process(folder, library, tiny_model)
    deadline = time.monotonic() + 120
    while embedded(library) < kill_after and proc.poll() is None:
        assert time.monotonic() < deadline, "indexer made no progress"
        time.sleep(0.02)
    assert proc.poll() is None, "indexer finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = embedded(library)
    assert 0 < partial < 80

    proc = indexer_process(folder, library, tiny_model)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    import json

    summary = json.loads(out)
    assert summary["indexed"] + summary["unchanged"] == 80
    assert summary["indexed"] <= 80 - partial
    assert_consistent(library, files, tiny_model)


# A process killed at the worst moments, deterministically: the child dies (os._exit, no
# cleanup, no rollback — what SIGKILL does) at the N-th call of a chosen step.
_DIE_AT = r"""
import os, sys
from clipgallery.core.store import catalog as C
from clipgallery.core.store import vector_index as V

point, nth = sys.argv[1], int(sys.argv[2])
calls = [0]

def dying(orig):
    def f(*a, **k):
        calls[0] += 1
        if calls[0] >= nth:
            os._exit(137)
        return orig(*a, **k)
    return f

if point == "mid-transaction":  # a photo row written, its vector not yet
    C.Catalog.put_embedding = dying(C.Catalog.put_embedding)
elif point == "after-commit":  # the batch committed, the index not yet told
    V.VectorIndex.sync = dying(V.VectorIndex.sync)
elif point == "index-written":  # new index file in place, its sidecar still the old one
    V._file_digest = dying(V._file_digest)
from clipgallery.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize("point,nth", [("mid-transaction", 3), ("mid-transaction", 9),
                                       ("after-commit", 2), ("index-written", 1)])
def test_killed_at_the_worst_moment_then_resume(tmp_path, tiny_model, point, nth):
    folder = tmp_path / "photos"
    files = [p for p, _ in synthetic.make_folder(folder, 24, seed=nth)]
    library = tmp_path / "library"
    args = ["index", str(folder), "--library", str(library), "--model", tiny_model,
            "--batch-size", "4"]
    p = subprocess.run([sys.executable, "-c", _DIE_AT, point, str(nth), *args], cwd=ROOT,
                       capture_output=True, timeout=300)
    assert p.returncode == 137, p.stderr.decode()[-2000:]  # it did die there
    if point != "index-written":  # (the index file is saved at the end of a run)
        assert embedded(library) < 24
    proc = indexer_process(folder, library, tiny_model)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert_consistent(library, files, tiny_model)
    from clipgallery.core.store.check import check

    with Library.open(library, write=True) as lib:
        assert check(lib).ok
