"""Handing photos to the desktop with awkward names: "show in folder" through a real
process (a stand-in ``dbus-send`` on PATH that records what it was given)."""

from __future__ import annotations

import os
import sys
import urllib.parse
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from clipgallery.app import desktop  # noqa: E402

ODD_NAMES = [b"with space.jpg", b"quote's \"double\".jpg", b"new\nline.jpg",
             b"caf\xe9-latin1.jpg", "日本語.jpg".encode()]


@pytest.mark.skipif(sys.platform != "linux", reason="the freedesktop path")
@pytest.mark.parametrize("raw", ODD_NAMES, ids=["space", "quotes", "newline", "latin1", "cjk"])
def test_show_in_folder_passes_the_exact_file(qtbot, tmp_path, monkeypatch, raw):
    record = tmp_path / "args.bin"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "dbus-send"
    fake.write_text(f"#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > {record}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    photo = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + raw))
    photo.write_bytes(b"x")

    desktop.show_in_folder(photo)
    qtbot.waitUntil(lambda: record.exists() and record.stat().st_size > 0, timeout=10_000)
    args = record.read_bytes().split(b"\0")
    item = next(a for a in args if a.startswith(b"array:string:"))
    uri = item[len(b"array:string:"):].decode("ascii")  # a URI is plain ASCII
    assert uri.startswith("file:///")
    assert urllib.parse.unquote_to_bytes(uri[len("file://"):]) == os.fsencode(photo)


def test_file_uri_round_trips_bytes(tmp_path):
    for raw in ODD_NAMES:
        p = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + raw))
        uri = desktop.file_uri(p)
        assert uri.isascii() and "\n" not in uri
        assert urllib.parse.unquote_to_bytes(uri[len("file://"):]) == os.fsencode(p)
