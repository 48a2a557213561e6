"""ClipGallery's promises (README: "What ClipGallery promises"), each tested.

Crashes, consistency checks and repair, unplugged drives, full disks, two writers,
concurrent searches, privacy (file modes, no network — see conftest), odd file names.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from clipgallery.core.indexing.indexer import Indexer
from clipgallery.core.search.searcher import Searcher
from clipgallery.core.store.catalog import INDEXED
from clipgallery.core.store.check import check
from clipgallery.core.store.library import Library
from tests import synthetic
from tests.test_crash import assert_consistent, embedded, indexer_process

ROOT = Path(__file__).resolve().parent.parent


def test_twenty_sigkills_at_random_moments(tmp_path, tiny_model):
    folder = tmp_path / "photos"
    files = [p for p, _ in synthetic.make_folder(folder, 150, seed=20)]
    library = tmp_path / "library"
    rng = random.Random(1)
    kills = 0
    progress = []
    while kills < 20:
        proc = indexer_process(folder, library, tiny_model)
        # Kill anywhere: during start-up, mid-batch, during a save; a run that
        # finishes first just means fewer photos were left to kill it on.
        time.sleep(rng.uniform(0.3, 4.0))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        progress.append(embedded(library))
        if progress[-1] >= len(files):
            # Everything is in: keep killing runs that have nothing left to do, then
            # add photos so later kills land mid-run again.
            more = synthetic.make_folder(folder, 30, seed=100 + kills)
            files += [p for p, _ in more if p not in files]
    proc = indexer_process(folder, library, tiny_model)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    assert_consistent(library, sorted(set(files)), tiny_model)
    with Library.open(library, write=True) as lib:
        assert check(lib).ok


def test_check_reports_and_repairs(cli, tmp_path, tiny_model, library_dir):
    folder = tmp_path / "photos"
    synthetic.make_folder(folder, 30, seed=2)
    cli.json("index", folder, "--library", library_dir, "--model", tiny_model)
    assert cli.json("check", "--library", library_dir)["ok"]
    # Break it three ways: a vector of no photo, an indexed photo without its vector,
    # and an index file that disagrees with the catalog.
    db = sqlite3.connect(library_dir / "catalog.sqlite3")
    model = db.execute("SELECT value FROM meta WHERE key='model_id'").fetchone()[0]
    victim = db.execute("SELECT id FROM photos ORDER BY id LIMIT 1").fetchone()[0]
    db.execute("DELETE FROM embeddings WHERE photo_id=?", (victim,))
    db.execute("INSERT INTO embeddings VALUES(999999, ?, zeroblob(256))", (model,))
    db.commit()
    db.close()
    idx_file = next((library_dir / "index").glob("*.hnsw"))
    idx_file.write_bytes(idx_file.read_bytes()[:-64])
    code, out, err = cli("check", "--library", library_dir)
    assert code == 1
    assert "vectors belong to no photo" in out
    assert "marked indexed but have no vector" in out
    assert "vector index" in out
    rep = cli.json("check", "--repair", "--library", library_dir)
    assert len(rep["repaired"]) == 3
    s = cli.json("index", folder, "--library", library_dir)
    assert s["indexed"] == 1  # the photo that lost its vector, and only it
    assert cli.json("check", "--library", library_dir) == {"ok": True, "problems": [],
                                                            "repaired": []}


def test_unplugged_drive_keeps_photos_and_relocation_reencodes_nothing(
        cli, tmp_path, tiny_model, library_dir):
    drive = tmp_path / "media" / "usb1" / "Photos"
    synthetic.make_folder(drive, 20, seed=4, specs=[("red", "circle", "white"),
                                                    ("blue", "square", "black")])
    cli.json("index", drive, "--library", library_dir, "--model", tiny_model)
    before = cli.json("search", "a red circle", "--library", library_dir, "--limit", "5")
    # Unplug: the folder disappears.
    (tmp_path / "media" / "usb1").rename(tmp_path / "elsewhere")
    s = cli.json("index", "--library", library_dir)
    assert s["offline_folders"] == [str(drive)] and s["removed"] == 0
    status = cli.json("status", "--library", library_dir)
    assert status["indexed"] == 20 and status["folders"][0]["online"] is False
    # Still searchable (paths are shown; the app flags them offline).
    assert cli.json("search", "a red circle", "--library", library_dir, "--limit", "5") == before
    # It comes back under another mount point; the user points the library at it.
    new = tmp_path / "media" / "usb2" / "Photos"
    new.parent.mkdir(parents=True)
    (tmp_path / "elsewhere" / "Photos").rename(new)
    code, out, err = cli("folder", "relocate", drive, new, "--library", library_dir)
    assert code == 0, err
    s = cli.json("index", "--library", library_dir)
    assert s["indexed"] == 0 and s["unchanged"] == 20 and s["removed"] == 0
    after = cli.json("search", "a red circle", "--library", library_dir, "--limit", "5")
    assert [h["path"].replace(str(new), str(drive)) for h in after] == [h["path"] for h in before]


def _limit_file_size(limit: int):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def test_full_disk_pauses_with_a_clear_message_and_loses_nothing(tmp_path, tiny_model,
                                                                  library_dir, cli):
    folder = tmp_path / "photos"
    synthetic.make_folder(folder, 10, seed=5)
    cli.json("index", folder, "--library", library_dir, "--model", tiny_model)
    synthetic.make_folder(folder / "more", 200, seed=6)
    wal = library_dir / "catalog.sqlite3-wal"
    limit = (wal.stat().st_size if wal.exists() else 0) + 120_000
    proc = subprocess.run(
        [sys.executable, "-m", "clipgallery", "index", str(folder), "--library",
         str(library_dir), "--batch-size", "8"],
        cwd=ROOT, capture_output=True, text=True, preexec_fn=_limit_file_size(limit),
        timeout=300)
    assert proc.returncode == 3, proc.stderr
    assert "disk is full" in proc.stderr and "Traceback" not in proc.stderr
    # What was committed is readable and consistent; nothing half-written.
    with Library.open(library_dir, write=True) as lib:
        assert check(lib).ok
        n = lib.catalog.counts()[INDEXED]
    assert 10 <= n < 210
    hits = cli.json("search", "a red circle", "--library", library_dir, "--limit", "5")
    assert hits
    # Space is back: indexing resumes and completes.
    s = cli.json("index", folder, "--library", library_dir)
    assert s["indexed"] == 210 - n
    with Library.open(library_dir, write=True) as lib:
        assert check(lib).ok and lib.catalog.counts()[INDEXED] == 210


def test_thousands_of_searches_while_indexing_return_correct_rows(tmp_path, tiny_model,
                                                                  library_dir):
    first, second = tmp_path / "a", tmp_path / "b"
    synthetic.make_folder(first, 60, seed=8)
    synthetic.make_folder(second, 240, seed=9)
    with Library.open(library_dir, write=True) as lib:
        enc = lib.load_encoder(tiny_model)
        idx = lib.index_for(enc)
        Indexer(lib.catalog, idx, enc).run([first])
        queries = enc.encode_text([f"a {c} {s}" for c in synthetic.COLORS
                                   for s in synthetic.SHAPES])
        from clipgallery.core.store.catalog import Catalog

        errors: list[BaseException] = []
        count = [0]
        done = threading.Event()

        def searcher_thread(seed):
            reader = Catalog(lib.paths.catalog)  # its own connection, like the app's
            s = Searcher(reader, idx, enc)
            rng = np.random.default_rng(seed)
            try:
                while not done.is_set() or count[0] < 2000:
                    q = queries[rng.integers(len(queries))]
                    for r in s.search_vector(q, 20):
                        assert r.photo.status == INDEXED
                        v = reader.embedding(r.photo.id, enc.model_id)
                        assert abs(float(v @ q) - r.score) < 2e-3  # the row's own vector
                    count[0] += 1
                    if count[0] > 20000:
                        break
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
            finally:
                reader.close()

        threads = [threading.Thread(target=searcher_thread, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        try:
            Indexer(lib.catalog, idx, enc, batch_size=8).run([first, second])
        finally:
            done.set()
            for t in threads:
                t.join()
        assert not errors, errors[0]
        assert count[0] >= 2000
        assert len(idx) == 300


def test_library_files_are_private(cli, tmp_path, tiny_model, library_dir):
    folder = tmp_path / "photos"
    synthetic.make_folder(folder, 5, seed=3)
    cli.json("index", folder, "--library", library_dir, "--model", tiny_model)
    cli.json("search", "a red circle", "--library", library_dir)
    for p in [library_dir, *library_dir.rglob("*")]:
        mode = stat.S_IMODE(p.lstat().st_mode)
        assert mode & 0o077 == 0, f"{p} is readable by others: {oct(mode)}"


ODD_NAMES = [b"with space.jpg", b"quote's \"double\".jpg", b"new\nline.jpg", b"caf\xe9.jpg",
             b"\xe6\x97\xa5\xe6\x9c\xac.jpg", b"-dash.jpg", b"semi;colon$(x).jpg"]


def test_odd_file_names_work_everywhere(cli, tmp_path, tiny_model, library_dir):
    folder = tmp_path / "odd folder 'x'"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, name in enumerate(ODD_NAMES):
        colour = "red" if i % 2 == 0 else "blue"
        img = synthetic.draw(colour, "circle", "white", rng)
        path = os.path.join(os.fsencode(folder), name)
        with open(path, "wb") as f:
            img.save(f, "JPEG")
    s = cli.json("index", folder, "--library", library_dir, "--model", tiny_model)
    assert s["indexed"] == len(ODD_NAMES) and not s["skipped"]
    hits = cli.json("search", "a circle", "--library", library_dir, "--limit", "50")
    got = {os.fsencode(h["path"]) for h in hits}
    assert got == {os.path.join(os.fsencode(folder), n) for n in ODD_NAMES}
    # Plain output prints the original bytes of the name.
    proc = subprocess.run([sys.executable, "-m", "clipgallery", "search", "a circle",
                           "--library", str(library_dir)], cwd=ROOT, capture_output=True)
    assert b"caf\xe9.jpg" in proc.stdout
    # Find similar by an odd path.
    odd = os.fsdecode(os.path.join(os.fsencode(folder), b"caf\xe9.jpg"))
    sim = cli.json("search", "--similar", odd, "--library", library_dir, "--limit", "3")
    assert sim and all(h["path"] != odd for h in sim)


def test_json_summary_is_valid_for_odd_names(cli, tmp_path, tiny_model, library_dir):
    folder = tmp_path / "p"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"bad\xff.jpg"), "wb") as f:
        f.write(b"not a jpeg")
    s = cli.json("index", folder, "--library", library_dir, "--model", tiny_model)
    assert len(s["skipped"]) == 1
    assert os.fsencode(s["skipped"][0]["path"]).endswith(b"bad\xff.jpg")
    json.dumps(s)
