"""The watcher's debouncing on an explicit clock: real files, no threads, no sleeping.

The times are the test's own (seconds on a made-up monotonic clock); the files are
real, because a file whose size or mtime changed without an event is still being
written.  tests/test_watcher.py covers the same rules end to end with real watchdog
events.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clipgallery.core.indexing.debounce import ChangeSet, Debouncer

DEBOUNCE, SETTLE, MAX_DELAY = 0.5, 1.0, 3.0


@pytest.fixture
def d() -> Debouncer:
    return Debouncer(debounce=DEBOUNCE, settle=SETTLE, max_batch_delay=MAX_DELAY)


def event(d: Debouncer, path: Path, t: float, *, short: bool = False) -> None:
    d.file_event(path, t, short=short)
    d.note_burst(t)


def test_nothing_pending_means_no_wakeup_and_no_batch(d: Debouncer) -> None:
    assert d.next_wakeup(0.0) is None
    assert d.flush(10.0) is None


def test_a_written_file_goes_out_once_it_settled(d: Debouncer, tmp_path: Path) -> None:
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x")
    event(d, f, 1.0)
    assert d.next_wakeup(1.0) == pytest.approx(1.0 + SETTLE)
    assert d.flush(1.0 + SETTLE - 0.01) is None  # not settled yet
    assert d.flush(1.0 + SETTLE) == ChangeSet(paths={f})
    assert d.flush(20.0) is None and d.next_wakeup(20.0) is None


def test_a_closed_file_needs_only_the_debounce(d: Debouncer, tmp_path: Path) -> None:
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x")
    event(d, f, 1.0)
    d.file_closed(f, 1.1)
    assert d.next_wakeup(1.1) == pytest.approx(1.0 + DEBOUNCE)
    assert d.flush(1.0 + DEBOUNCE) == ChangeSet(paths={f})


def test_a_file_that_changed_without_an_event_is_held_back(d: Debouncer, tmp_path: Path) -> None:
    f = tmp_path / "growing.jpg"
    f.write_bytes(b"x")
    event(d, f, 1.0)
    f.write_bytes(b"xx")  # still being written: no event came for this
    assert d.flush(2.0) is None
    assert d.next_wakeup(2.0) == pytest.approx(2.0 + SETTLE)
    assert d.flush(3.0) == ChangeSet(paths={f})


def test_a_burst_goes_out_in_one_batch_after_the_last_event(d: Debouncer, tmp_path: Path) -> None:
    files = []
    for i in range(5):
        f = tmp_path / f"{i}.jpg"
        f.write_bytes(b"x")
        event(d, f, 1.0 + 0.25 * i, short=True)  # renamed into place: complete
        files.append(f)
    last = 1.0 + 0.25 * 4
    # The first files are due, but the burst goes on: nothing before the last is due.
    assert d.flush(1.0 + DEBOUNCE + 0.05) is None
    assert d.flush(last + DEBOUNCE - 0.01) is None
    assert d.flush(last + DEBOUNCE) == ChangeSet(paths=set(files))


def test_a_long_burst_streams_every_max_batch_delay(d: Debouncer, tmp_path: Path) -> None:
    batches: list[ChangeSet] = []
    t = 0.0
    for i in range(40):  # an event every 0.2 s for 8 s: never quiet for the debounce
        f = tmp_path / f"{i}.jpg"
        f.write_bytes(b"x")
        event(d, f, t, short=True)
        out = d.flush(t)
        if out:
            batches.append(out)
        t += 0.2
    while (wake := d.next_wakeup(t)) is not None:
        t = max(t, wake)
        out = d.flush(t)
        if out:
            batches.append(out)
    assert 2 <= len(batches) <= 4  # about every MAX_DELAY seconds, and the rest at the end
    delivered = [p for b in batches for p in b.paths]
    assert len(delivered) == len(set(delivered)) == 40


def test_a_file_delivered_in_the_same_state_is_not_delivered_again(d: Debouncer,
                                                                    tmp_path: Path) -> None:
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x")
    event(d, f, 1.0, short=True)
    assert d.flush(2.0) == ChangeSet(paths={f})
    d.file_closed(f, 3.0)  # a late close: nothing changed
    d.note_burst(3.0)
    assert d.flush(5.0) is None
    f.write_bytes(b"changed")
    event(d, f, 6.0, short=True)
    assert d.flush(7.0) == ChangeSet(paths={f})


def test_a_new_folder_waits_until_quiet_and_covers_its_files(d: Debouncer, tmp_path: Path) -> None:
    sub = tmp_path / "new"
    sub.mkdir()
    d.dir_event(tmp_path, sub, 1.0, wait_quiet=True)
    d.note_burst(1.0)
    inside = sub / "a.jpg"
    inside.write_bytes(b"x")
    d.activity_below(tmp_path, inside, 1.8)
    event(d, inside, 1.8, short=True)
    assert d.flush(1.0 + SETTLE) is None  # something happened below it since
    assert d.flush(1.8 + SETTLE) == ChangeSet(folders={sub})  # the rescan covers the file


def test_a_deleted_folder_rescans_its_parent(d: Debouncer, tmp_path: Path) -> None:
    sub = tmp_path / "album" / "gone"
    sub.mkdir(parents=True)
    d.dir_event(tmp_path, sub, 1.0, wait_quiet=True)
    sub.rmdir()
    d.dir_gone(tmp_path, sub, 1.2)
    d.note_burst(1.2)
    assert d.flush(1.2 + DEBOUNCE) == ChangeSet(folders={tmp_path / "album"})


def test_rescans_go_out_after_the_debounce_and_forget_drops_paths(d: Debouncer,
                                                                  tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    fa, fb = a / "1.jpg", b / "2.jpg"
    fa.write_bytes(b"x")
    fb.write_bytes(b"x")
    event(d, fa, 1.0, short=True)
    event(d, fb, 1.0, short=True)
    d.rescan(a)
    d.forget(lambda p: p.is_relative_to(b))  # b was unwatched
    assert d.flush(1.0 + DEBOUNCE) == ChangeSet(folders={a})  # fa is below the rescan


def test_negative_times_are_refused() -> None:
    with pytest.raises(ValueError):
        Debouncer(debounce=-1)
