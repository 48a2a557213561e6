"""Every CLI command exits 0 when it did its work and non-zero only when it failed
(issue #15, defect 1), in a real process: ``search --image``/``--similar`` used to
print their results and then abort with "terminate called without an active
exception" (exit code 134), because a daemon thread warming a model up was still inside
ONNX Runtime while the interpreter exited.

Real components throughout: a fresh ``python -m clipgallery`` per command, one real
library (indexed once per module with the tiny CLIP at tests/data/tiny-clip, through
the ONNX Runtime path), real photos.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_CLIP
from tests.synthetic import make_folder


class Lib:
    """The module's library and a way to run the CLI on it in a fresh process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.library = root / "library"
        self.photos = root / "photos"
        self.outside = root / "outside"  # image files that are not in the library
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPGALLERY_")}
        env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", QT_QPA_PLATFORM="offscreen",
                   CLIPGALLERY_HOME=str(root / "home"))
        if os.environ.get("CLIPGALLERY_ONNX_CACHE"):  # the test session's exports
            env["CLIPGALLERY_ONNX_CACHE"] = os.environ["CLIPGALLERY_ONNX_CACHE"]
        self.env = env

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "clipgallery", *map(str, args),
               "--library", str(self.library)]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, cwd=ROOT,
                              timeout=300)

    def ok(self, *args: str | Path) -> str:
        """Run a command that must succeed; its stdout."""
        p = self.run(*args)
        assert p.returncode == 0, (args, p.returncode, p.stderr[-3000:])
        assert_clean(p.stderr)
        return p.stdout

    def fails(self, *args: str | Path) -> str:
        """Run a command that must fail cleanly; its one-line message."""
        p = self.run(*args)
        assert p.returncode not in (0, 134, -6), (args, p.returncode, p.stderr[-3000:])
        assert_clean(p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1, p.stderr
        assert lines[0].startswith("clipgallery: "), p.stderr
        return lines[0]


def assert_clean(stderr: str) -> None:
    assert "terminate" not in stderr, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "Aborted" not in stderr, stderr[-3000:]


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Lib:
    """One indexed library for the module; the first ``index`` (which exports the model
    to ONNX) must itself exit cleanly."""
    assert (TINY_CLIP / "open_clip_config.json").is_file(), "tests/data/tiny-clip is missing"
    lib = Lib(tmp_path_factory.mktemp("cli-exits"))
    make_folder(lib.photos, 8, seed=15)
    make_folder(lib.outside, 1, seed=16)
    out = lib.ok("index", lib.photos, "--model", TINY_CLIP)
    assert out.startswith("Indexed 8,"), out
    assert "ONNX Runtime" in out, out  # the path whose warm-up threads aborted the exit
    return lib


def a_photo(lib: Lib) -> Path:
    return sorted(lib.photos.glob("*.jpg"))[0]


def an_outside_file(lib: Lib) -> Path:
    return sorted(lib.outside.glob("*.jpg"))[0]


def test_index_again_with_nothing_new(lib):
    # A quick start (the export is known) warms the image model up and has nothing to
    # encode: the process used to exit while that load was still inside ONNX Runtime.
    out = lib.ok("index")
    assert out.startswith("Indexed 0, unchanged 8,"), out


@pytest.mark.parametrize("how", ["text", "image-file", "image-photo", "similar", "good"])
def test_search(lib, how):
    args = {"text": ["a red circle"],
            "image-file": ["--image", an_outside_file(lib)],
            "image-photo": ["--image", a_photo(lib)],
            "similar": ["--similar", a_photo(lib)],
            "good": ["--good", a_photo(lib)]}[how]
    out = lib.ok("search", *args, "--all", "--limit", "3")
    rows = out.strip().splitlines()
    assert rows and all("\t" in r for r in rows), out


@pytest.mark.parametrize("args, expect", [
    (["status"], "Photos:   8 indexed"),
    (["check"], "The library is consistent."),
    (["labels", "1"], "%"),
    (["duplicates"], ""),
    (["model", "list"], "The library uses: "),
    (["folder", "list"], "photos"),
    (["settings"], "device: "),
])
def test_command(lib, args, expect):
    assert expect in lib.ok(*args)


def test_album_commands(lib):
    assert "Saved album 'reds'" in lib.ok("album", "add", "reds", "red")
    assert lib.ok("album", "list").startswith("reds\t")
    assert "\t" in lib.ok("album", "show", "reds")
    assert "Removed album 'reds'" in lib.ok("album", "remove", "reds")


def test_failures_exit_non_zero_with_one_clear_line(lib):
    missing = lib.root / "no-such-photo.jpg"
    assert "is not a file" in lib.fails("search", "--image", missing)
    assert "not in the library" in lib.fails("search", "--similar", missing)
    assert "There is no photo 99999" in lib.fails("search", "--similar", "99999")
    assert "is not a file" in lib.fails("labels", missing)


def test_unknown_folders_are_refused(lib):
    # Removing or relocating a folder the library does not have is a mistake, not a
    # success (it used to print "Removed ... 0 photos", and relocate added the target).
    p = lib.run("folder", "remove", lib.root / "elsewhere")
    assert p.returncode == 2 and "is not a folder of the library" in p.stderr, p.stderr
    p = lib.run("folder", "relocate", lib.root / "elsewhere", lib.outside)
    assert p.returncode == 2 and "is not a folder of the library" in p.stderr, p.stderr
    assert_clean(p.stderr)
    assert lib.ok("folder", "list").strip() == str(lib.photos)


_WARM_AND_EXIT = r"""
import sys
from clipgallery.core.store.library import Library

with Library.open(sys.argv[1]) as lib:
    # Several encoders, so that some load is surely inside ONNX Runtime at the exit.
    encs = [lib.load_encoder(purpose="search", device="cpu", warm=("visual", "textual"))
            for _ in range(4)]
    assert all(type(e).__name__ == "OnnxEncoder" for e in encs), encs
print("exiting")  # at once: the loads are still running
"""


def test_exit_waits_for_warm_up_threads(lib):
    # Whatever the caller does, the interpreter must not exit while a warm-up is
    # inside ONNX Runtime.
    for _ in range(2):
        p = subprocess.run([sys.executable, "-c", _WARM_AND_EXIT, str(lib.library)],
                           capture_output=True, text=True, env=lib.env, cwd=ROOT, timeout=300)
        assert p.returncode == 0, (p.returncode, p.stderr[-3000:])
        assert p.stdout.strip() == "exiting"
        assert_clean(p.stderr)


def test_warm_up_threads_are_joinable(lib, monkeypatch):
    from clipgallery.core.store.library import Library

    monkeypatch.setenv("CLIPGALLERY_ONNX_CACHE", lib.env["CLIPGALLERY_ONNX_CACHE"])
    with Library.open(lib.library) as library:
        enc = library.load_encoder(purpose="search", device="cpu",
                                   warm=("visual", "textual"))
        assert enc.join_warm_up(timeout=120)
        assert set(enc._sessions) == {"visual", "textual"}
        assert enc.join_warm_up(timeout=0)  # nothing left: returns at once


@pytest.mark.parametrize("command", [
    [], ["index"], ["search"], ["album"], ["album", "add"], ["album", "list"],
    ["album", "show"], ["album", "remove"], ["duplicates"], ["labels"], ["settings"],
    ["status"], ["model"], ["model", "list"], ["model", "import"], ["model", "download"],
    ["model", "use"], ["check"], ["folder"], ["folder", "list"], ["folder", "remove"],
    ["folder", "relocate"], ["gui"]])
def test_help_exits_0(command, capsys):
    from clipgallery.cli import main

    with pytest.raises(SystemExit) as e:
        main([*command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: clipgallery {' '.join(command)}".rstrip()), out
