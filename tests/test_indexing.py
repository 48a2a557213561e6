"""End-to-end indexing and search on the real components: SQLite, hnswlib, open_clip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from clipgallery.core.indexing.indexer import Indexer
from clipgallery.core.search.searcher import Searcher
from clipgallery.core.store.catalog import INDEXED, MISSING
from clipgallery.core.store.library import Library
from tests import synthetic

RED_CIRCLE = ("red", "circle", "white")


def balanced_specs(n_red_circles: int = 12, others: int = 48, seed: int = 7):
    """n red circles among other colour/shape combinations (no red circles)."""
    rng = np.random.default_rng(seed)
    specs = [(RED_CIRCLE[0], RED_CIRCLE[1], str(rng.choice(synthetic.BACKGROUNDS)))
             for _ in range(n_red_circles)]
    while len(specs) < n_red_circles + others:
        c, s, b = synthetic.random_spec(rng)
        if (c, s) != ("red", "circle"):
            specs.append((c, s, b))
    rng.shuffle(specs)
    return [tuple(x) for x in specs]


def is_red_circle(path: str | Path) -> bool:
    return "_red_circle_" in Path(path).name


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    synthetic.make_folder(folder, 60, seed=1234, specs=balanced_specs())
    return folder


def open_all(library_dir: Path, model: str):
    lib = Library.open(library_dir, write=True)
    enc = lib.load_encoder(model)
    idx = lib.index_for(enc)
    return lib, enc, idx


def test_cli_index_then_search_finds_red_circles(cli, photos, library_dir, tiny_model):
    summary = cli.json("index", photos, "--library", library_dir, "--model", tiny_model)
    assert summary["indexed"] == 60 and summary["skipped"] == []
    hits = cli.json("search", "a red circle", "--library", library_dir, "--limit", "10")
    assert len(hits) == 10
    assert all({"path", "score"} <= set(h) for h in hits)
    precision = sum(is_red_circle(h["path"]) for h in hits) / 10
    assert precision >= 0.9, [Path(h["path"]).name for h in hits]
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)

    status = cli.json("status", "--library", library_dir)
    assert status["indexed"] == 60 and status["model"].startswith("local:tiny-clip@")
    assert status["library"] == str(library_dir)

    # A second run finds nothing to do.
    again = cli.json("index", photos, "--library", library_dir)
    assert again["indexed"] == 0 and again["unchanged"] == 60


def test_move_is_not_reencoded_modify_is_delete_leaves(tmp_path, photos, library_dir, tiny_model):
    other = tmp_path / "other"
    other.mkdir()
    lib, enc, idx = open_all(library_dir, tiny_model)
    with lib:
        Indexer(lib.catalog, idx, enc, batch_size=8).run([photos, other])
        assert enc.images_encoded == 60
        searcher = Searcher(lib.catalog, idx, enc)
        red = sorted(p for p in photos.iterdir() if is_red_circle(p))

        # Move a red circle to another library folder: recognised by content, not re-encoded.
        moved_from = red[0]
        moved_to = other / ("renamed " + moved_from.name)
        shutil.move(moved_from, moved_to)
        before = enc.images_encoded
        s = Indexer(lib.catalog, idx, enc, batch_size=8).run([photos, other])
        assert (s.moved, s.indexed, s.removed) == (1, 0, 0)
        assert enc.images_encoded == before
        paths = [r.path for r in searcher.search_text("a red circle", 60)]
        assert moved_to in paths and moved_from not in paths
        assert lib.catalog.photo_by_path(moved_from) is None

        # Modify a photo (draw a blue square over it): re-encoded, and no longer a red circle.
        changed = red[1]
        synthetic.draw("blue", "square", "white", np.random.default_rng(5)).save(changed)
        os.utime(changed, ns=(1, 10**18))
        s = Indexer(lib.catalog, idx, enc, batch_size=8).run([photos, other])
        assert s.indexed == 1 and enc.images_encoded == before + 1
        top = [r.path for r in searcher.search_text("a blue square", 5)]
        assert changed in top

        # Delete one: it leaves the results and is marked missing (its vector kept).
        gone = red[2]
        gone.unlink()
        s = Indexer(lib.catalog, idx, enc, batch_size=8).run([photos, other])
        assert s.removed == 1
        assert gone not in [r.path for r in searcher.search_text("a red circle", 60)]
        assert lib.catalog.photo_by_path(gone).status == MISSING
        assert len(idx) == lib.catalog.indexed_count(enc.model_id) == 59


@pytest.mark.parametrize("bulk", [False, True], ids=["per-file-lookup", "bulk-hashes"])
def test_copy_reuses_vector_and_offline_folder_is_left_alone(tmp_path, photos, library_dir,
                                                             tiny_model, bulk, monkeypatch):
    from clipgallery.core.indexing import indexer

    # Small runs ask the catalog per file; big ones load every known hash at once.
    monkeypatch.setattr(indexer, "_BULK_HASHES", 0 if bulk else 10**9)
    lib, enc, idx = open_all(library_dir, tiny_model)
    with lib:
        Indexer(lib.catalog, idx, enc).run([photos])
        n = enc.images_encoded
        shutil.copy(next(photos.iterdir()), photos / "copy of first.jpg")
        s = Indexer(lib.catalog, idx, enc).run([photos])
        assert s.copies == 1 and enc.images_encoded == n
        # The folder disappears (an unplugged drive): nothing is removed.
        unplugged = tmp_path / "unplugged"
        photos.rename(unplugged)
        s = Indexer(lib.catalog, idx, enc).run([photos])
        assert s.offline_folders == [photos] and s.removed == 0
        assert lib.catalog.counts()[INDEXED] == 61


def test_corrupt_or_missing_index_file_is_rebuilt(cli, photos, library_dir, tiny_model):
    cli.json("index", photos, "--library", library_dir, "--model", tiny_model)
    want = cli.json("search", "a green triangle", "--library", library_dir, "--limit", "20")
    index_files = list((library_dir / "index").glob("*.hnsw"))
    assert len(index_files) == 1
    index_files[0].unlink()
    assert cli.json("search", "a green triangle", "--library", library_dir,
                    "--limit", "20") == want
    assert index_files[0].exists()  # repaired and saved again
    data = bytearray(index_files[0].read_bytes())
    data[100:4000] = os.urandom(3900)
    index_files[0].write_bytes(bytes(data))
    assert cli.json("search", "a green triangle", "--library", library_dir,
                    "--limit", "20") == want
    index_files[0].write_bytes(b"")
    assert cli.json("search", "a green triangle", "--library", library_dir,
                    "--limit", "20") == want


def test_stale_index_file_catches_up_from_the_log(tmp_path, photos, library_dir, tiny_model,
                                                  monkeypatch):
    from clipgallery.core.store.vector_index import VectorIndex

    lib, enc, idx = open_all(library_dir, tiny_model)
    with lib:
        Indexer(lib.catalog, idx, enc).run([photos])
    saved = {p.name: p.read_bytes() for p in (library_dir / "index").iterdir()}
    more = tmp_path / "more"
    synthetic.make_folder(more, 10, seed=99, specs=[RED_CIRCLE])

    # A run whose index saves are lost (as if killed before saving): the catalog's
    # log lets the next open replay the difference instead of rebuilding.
    with monkeypatch.context() as m:
        m.setattr(VectorIndex, "save", lambda self, catalog=None: None)
        lib, enc, idx = open_all(library_dir, tiny_model)
        with lib:
            Indexer(lib.catalog, idx, enc).run([photos, more])
    lib, enc, idx = open_all(library_dir, tiny_model)
    with lib:
        assert idx.rebuilt_reason is None and len(idx) == 70
        # The replayed photos are searchable: 10 of the 22 red circles are the new ones.
        hits = Searcher(lib.catalog, idx, enc).search_text("a red circle", 30)
        assert sum(r.path.parent == more for r in hits) >= 8

    # An index file older than the pruned log cannot be replayed: it is rebuilt.
    for name, data in saved.items():
        (library_dir / "index" / name).write_bytes(data)
    lib, enc, idx = open_all(library_dir, tiny_model)
    with lib:
        assert idx.rebuilt_reason == "index file is too old to bring up to date"
        assert len(idx) == 70


def test_model_unavailable_is_quick_and_clear(cli, photos, library_dir):
    import time

    t = time.monotonic()
    code, out, err = cli("index", photos, "--library", library_dir,
                         "--model", "ViT-B-32-256:datacomp_s34b_b86k")
    assert code == 2 and time.monotonic() - t < 15
    assert "not on this computer" in err and "Traceback" not in err
    code, out, err = cli("index", photos, "--library", library_dir, "--model", "Nope-42:x")
    assert code == 2 and "no model architecture" in err
    code, out, err = cli("index", photos, "--library", library_dir, "--model", str(photos))
    assert code == 2 and "not a ClipGallery/open_clip model folder" in err


def test_second_writer_is_refused(cli, photos, library_dir, tiny_model):
    with Library.open(library_dir, write=True):
        code, out, err = cli("index", photos, "--library", library_dir, "--model", tiny_model)
    assert code == 2 and "in use by ClipGallery (pid" in err
    # Once the first writer is gone, the second succeeds.
    assert cli.json("index", photos, "--library", library_dir, "--model", tiny_model)[
        "indexed"] == 60


def test_bad_arguments_get_messages_not_tracebacks(cli, tmp_path, library_dir, tiny_model):
    code, out, err = cli("index", tmp_path / "nope", "--library", library_dir)
    assert code == 2 and "does not exist" in err
    code, out, err = cli("search", "x", "--library", library_dir)
    assert code == 1 and "index a folder first" in err
    code, out, err = cli("search", "--library", library_dir)
    assert code == 2


def test_negative_terms_need_no_quoting_on_the_command_line(cli, photos, library_dir,
                                                            tiny_model):
    cli.json("index", photos, "--library", library_dir, "--model", tiny_model)
    code, out, err = cli("search", "a", "circle", "-square", "--library", library_dir)
    assert code == 0, err
    with pytest.raises(SystemExit) as exc:
        cli("search", "a circle", "--bogus", "--library", library_dir)
    assert exc.value.code == 2


def test_folders_never_nest(cli, tmp_path, library_dir, tiny_model):
    """Adding a folder inside a library folder adds nothing; adding one that holds
    library folders replaces them, and their photos stay as they are (no re-encode)."""
    root = tmp_path / "Pictures"
    a, b = root / "2023", root / "2024"
    synthetic.make_folder(a, 4, seed=31)
    synthetic.make_folder(b, 4, seed=32)
    assert cli("index", str(a), str(b), "--library", str(library_dir), "--model",
               tiny_model)[0] == 0
    with Library.open(library_dir) as lib:
        assert lib.catalog.folders() == [a, b]
        ids = {p.path: p.id for p in lib.catalog.all_photos()}
    code, out, _ = cli("index", str(root), "--library", str(library_dir), "--model", tiny_model)
    assert code == 0 and "Indexed 0, unchanged 8" in out
    with Library.open(library_dir, write=True) as lib:
        assert lib.catalog.folders() == [root]
        assert {p.path: p.id for p in lib.catalog.all_photos()} == ids
        assert lib.catalog.add_folder(a) == root  # already covered
        assert lib.catalog.folders() == [root]
