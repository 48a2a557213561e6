"""The Qt-free indexing session that both ``clipgallery index`` and the app's worker run:
real library, real tiny CLIP, real files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from clipgallery.core.indexing.indexer import Progress
from clipgallery.core.indexing.session import IndexingSession
from clipgallery.core.store.catalog import StorageError
from clipgallery.core.store.library import Library, LibraryLocked
from tests import synthetic
from tests.test_models import random_variant


class Recorded:
    """An after-pass that records what it was given and what the library held then."""

    def __init__(self, name: str, log: list[str], fail: Exception | None = None) -> None:
        self.name, self.log, self.fail = name, log, fail
        self.searchable: list[int] = []

    def run(self, library, cancel, progress) -> None:
        self.log.append(self.name)
        model = library.catalog.model_id
        self.searchable.append(library.catalog.indexed_count(model) if model else 0)
        progress(Progress(self.name, 1, 1))
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    synthetic.make_folder(folder, 12, seed=3)
    return folder


def test_a_run_indexes_activates_then_runs_the_after_passes_in_order(photos, library_dir,
                                                                     tiny_model):
    order: list[str] = []
    phases: list[str] = []
    first, second = Recorded("first", order, fail=ValueError("broken")), Recorded("second", order)
    with IndexingSession.open(library_dir, after_passes=[first],
                              progress=lambda p: phases.append(p.phase)) as session:
        session.after_passes.append(second)
        session.add_folders([photos])
        assert session.folders() == [photos]
        session.load_model(tiny_model)
        summary = session.index_folders([photos])
        assert summary.indexed == 12 and not summary.cancelled
        assert session.activated
        assert session.library.catalog.model_id == session.encoder.model_id
        # Both passes ran, in order, after the CLIP pass (every photo searchable then);
        # the first one's failure did not stop the second.
        assert order == ["first", "second"]
        assert first.searchable == [12] and second.searchable == [12]
        assert phases[0] == "scanning" and phases.index("done") < phases.index("first")
        assert session.run_after_passes() == [("first", "broken")]
    # The session opened the library, so it closed it: the writer lock is free again.
    with Library.open(library_dir, write=True):
        pass


def test_the_session_holds_the_writer_lock(library_dir):
    with IndexingSession.open(library_dir), pytest.raises(LibraryLocked):
        IndexingSession.open(library_dir)


def test_a_cancelled_run_neither_activates_nor_runs_after_passes(photos, library_dir,
                                                                 tiny_model):
    order: list[str] = []
    cancel = threading.Event()
    opened: list[IndexingSession] = []

    def progress(p: Progress) -> None:
        if p.phase == "indexing" and p.done >= 4:
            opened[0].cancel()

    with IndexingSession.open(library_dir, batch_size=4, cancel=cancel, progress=progress,
                              after_passes=[Recorded("after", order)]) as session:
        opened.append(session)
        session.load_model(tiny_model)
        summary = session.index_folders([photos])
        assert summary.cancelled and cancel.is_set()
        assert 4 <= summary.indexed < 12
        assert not session.activated and session.library.catalog.model_id is None
        assert order == []


def test_paths_only_runs_do_not_activate_a_model_switch(photos, tmp_path, library_dir,
                                                        tiny_model):
    other = str(random_variant(Path(tiny_model), tmp_path / "other-model", seed=5))
    with IndexingSession.open(library_dir) as session:
        session.load_model(tiny_model)
        session.index_folders([photos])
        old = session.encoder
        session.switch_model(other)
        assert session.spec == other and session.encoder is not old
        # While the switch is under way, search keeps the old, complete vectors.
        enc, index = session.search_model()
        assert enc is not None and enc.model_id == old.model_id and len(index) == 12

        new = photos / "new.jpg"
        synthetic.make_folder(tmp_path / "more", 1, seed=9)[0][0].rename(new)
        summary = session.run([photos], [new])
        assert summary.indexed == 1 and not session.activated
        assert session.library.catalog.model_id == old.model_id

        summary = session.run([photos])
        assert summary.indexed == 12 and session.activated  # 12 re-encoded, 1 done already
        assert session.library.catalog.model_id == session.encoder.model_id
        enc, index = session.search_model()
        assert enc is session.encoder and len(index) == 13


def test_a_model_that_cannot_load_leaves_the_session_as_it_was(photos, tmp_path, library_dir,
                                                               tiny_model):
    with IndexingSession.open(library_dir) as session:
        session.load_model(tiny_model)
        encoder, indexer = session.encoder, session.indexer
        with pytest.raises(Exception):  # noqa: B017 - ModelUnavailable or a load error
            session.switch_model(str(tmp_path / "no-such-model"))
        assert session.encoder is encoder and session.indexer is indexer
        assert session.library.catalog.get_meta("next_model_spec") is None
        with pytest.raises(RuntimeError, match="no model"):
            IndexingSession(session.library).run([photos])


def test_activation_errors_go_to_the_callback_or_up(photos, library_dir, tiny_model,
                                                    monkeypatch):
    seen: list[Exception] = []
    with IndexingSession.open(library_dir, on_activation_error=seen.append) as session:
        session.load_model(tiny_model)
        monkeypatch.setattr(session.library, "activate_model",
                            lambda *a: (_ for _ in ()).throw(StorageError("disk full")))
        summary = session.run([photos])
        assert summary.indexed == 12 and not session.activated
        assert [str(e) for e in seen] == ["disk full"]
        session.on_activation_error = None
        with pytest.raises(StorageError):
            session.run([photos])


def test_a_storage_error_in_an_after_pass_is_passed_on(photos, library_dir, tiny_model):
    order: list[str] = []
    with IndexingSession.open(library_dir, after_passes=[
            Recorded("full", order, fail=StorageError("disk full")), Recorded("next", order)]
    ) as session:
        session.load_model(tiny_model)
        session.run([photos])
        with pytest.raises(StorageError):
            session.run_after_passes()
        assert order == ["full"]


def test_pause_before_the_model_loads_holds_the_indexer(library_dir, tiny_model):
    with IndexingSession.open(library_dir) as session:
        session.pause()
        indexer = session.load_model(tiny_model)
        assert session.paused and indexer.paused
        session.resume()
        assert not session.paused and not indexer.paused


def test_pending_work_runs_folders_first_and_merges_what_came_meanwhile(tmp_path):
    from clipgallery.core.indexing.pending import PendingWork

    lib_a, lib_b, outside = tmp_path / "a", tmp_path / "b", tmp_path / "elsewhere"
    work = PendingWork()
    assert not work and work.take([lib_a]) is None
    work.add(paths=[lib_a / "x.jpg", lib_b / "y.jpg", outside / "z.jpg"])
    work.add(folders=[lib_a / "sub"])
    # Folders first; the paths below them go with them.
    work.add(paths=[lib_a / "sub" / "in.jpg"])
    assert work.take([lib_a, lib_b]) == ([lib_a / "sub"], None)
    assert work.paths == {lib_a / "x.jpg", lib_b / "y.jpg", outside / "z.jpg"}
    # Then the single paths inside the library, with their library folders.
    assert work.take([lib_b, lib_a]) == ([lib_a, lib_b], [lib_a / "x.jpg", lib_b / "y.jpg"])
    assert not work  # the path outside every library folder was dropped
    # A stopped unit of work is queued again; a removed folder takes its paths along.
    work.requeue([lib_a], [lib_a / "x.jpg"])
    work.requeue([lib_b], None)
    work.forget(lib_a)
    assert work.folders == {lib_b} and work.paths == set()
    assert work.take([lib_a]) is None and not work  # lib_b is no longer a library folder


def test_the_app_prunes_stale_thumbnails_once_after_its_first_run(photos, library_dir,
                                                                  tiny_model):
    from clipgallery.app.indexing_worker import PruneThumbnails
    from clipgallery.app.thumbnail_cache import ThumbnailCache

    with IndexingSession.open(library_dir, after_passes=[PruneThumbnails()]) as session:
        cache = ThumbnailCache(session.library.paths.thumbnails)
        photo = sorted(photos.iterdir())[0]
        st = photo.stat()
        live, _ = cache.get_or_make(photo, st.st_mtime_ns, st.st_size)
        stale, _ = cache.get_or_make(photo, st.st_mtime_ns + 1, st.st_size)  # an old version
        session.load_model(tiny_model)
        session.index_folders([photos])
        assert live.is_file() and not stale.is_file()
        later, _ = cache.get_or_make(photo, st.st_mtime_ns + 2, st.st_size)
        session.index_folders([photos])
        assert later.is_file()  # once a session: not after every run
