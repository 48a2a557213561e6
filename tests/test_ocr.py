"""Text in photos: the real PP-OCRv4 models (rapidocr-onnxruntime) on real corpus photos
with words drawn on them in a real font, and on real photos without text.

Searching each word finds its photo in the top 3 and no photo without text; the box
found overlaps the drawn words; case, accents, prefixes and substrings match; the pass
is killed with SIGKILL and resumed (every photo read exactly once, ``check`` clean);
moved and copied photos are not read again; ``--no-ocr`` and ``settings ocr off``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CORPUS, ROOT, TINY_CLIP
from tests.ocr_pictures import font_path, make_pictures

pytestmark = [
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}"),
    pytest.mark.skipif(font_path() is None, reason="no DejaVu font on this computer"),
]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CLIPGALLERY_") or k == "CLIPGALLERY_ONNX_CACHE"}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", QT_QPA_PLATFORM="offscreen",
               CLIPGALLERY_HOME=str(home))
    return env


def _run(home: Path, *args: object) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "clipgallery", *map(str, args)],
                       capture_output=True, text=True, env=_env(home), cwd=ROOT, timeout=300)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def _json(home: Path, *args: object):
    p = _run(home, *args, "--json")
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def _reads(lib: Path) -> dict[str, tuple[str, float]]:
    db = sqlite3.connect(lib / "catalog.sqlite3")
    try:
        return {h: (s, t) for h, s, t in db.execute(
            "SELECT content_hash, status, read_at FROM ocr_reads")}
    finally:
        db.close()


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@pytest.fixture(scope="module")
def read_library(tmp_path_factory):
    root = tmp_path_factory.mktemp("ocr")
    with_text, plain = make_pictures(CORPUS, root / "photos")
    lib = root / "lib"
    s = _json(root, "index", root / "photos", "--library", lib, "--model", TINY_CLIP)
    assert s["indexed"] == len(with_text) + len(plain)
    assert s["text"]["read"] == len(with_text) + len(plain) and s["text"]["failed"] == 0
    return root, lib, with_text, plain


# The word searched for each picture: plain, upper case, without its accent.
QUERIES = {"sign": "bakery", "shirt": "Marathon", "page": "INVOICE", "rotated": "pharmacy",
           "small": "fenix"}


def test_each_word_finds_its_photo_and_no_photo_without_text(read_library, cli,
                                                              monkeypatch):
    monkeypatch.delenv("CLIPGALLERY_OCR", raising=False)
    root, lib, with_text, plain = read_library
    plain_paths = {str(p.path) for p in plain}
    for pic in with_text:
        rows = cli.json("search", f"text:{QUERIES[pic.kind]}", "--library", lib, "--all")
        paths = [r["path"] for r in rows]
        assert str(pic.path) in paths[:3], (pic.kind, paths)
        assert not plain_paths & set(paths), (pic.kind, paths)
        row = rows[paths.index(str(pic.path))]
        why = row["why"]["text"]
        assert QUERIES[pic.kind].lower() in why["text"].lower().replace("é", "e")
        assert why["confidence"] >= 0.6
        assert _iou(why["box"], pic.box) > 0.4, (pic.kind, why["box"], pic.box)


def test_status_says_how_many_photos_were_read_for_text(read_library):
    root, lib, with_text, plain = read_library
    t = _json(root, "status", "--library", lib)["text"]
    assert t == {"text": len(with_text), "none": len(plain), "failed": 0, "unread": 0}
    p = _run(root, "status", "--library", lib)
    assert p.returncode == 0
    assert f"Text:     {len(with_text)} with text, {len(plain)} without, 0 not read yet" \
        in p.stdout, p.stdout


def test_case_accents_prefixes_substrings_and_phrases(read_library, cli, monkeypatch):
    monkeypatch.delenv("CLIPGALLERY_OCR", raising=False)
    root, lib, with_text, plain = read_library
    by_kind = {p.kind: str(p.path) for p in with_text}
    expect = {
        "text:BAKERY": "sign", "text:Bakery's": "sign", "text:bak": "sign",  # prefix
        "text:akery": "sign",  # substring
        "text:café": "small", "text:CAFE": "small", "text:FÉNIX": "small",
        'text:"total amount"': "page",  # a phrase
        "text:within": "page",  # the reader ran "Payment within" together: a substring
        "text:arath": "shirt",
    }
    for query, kind in expect.items():
        rows = cli.json("search", query, "--library", lib, "--all")
        assert rows and rows[0]["path"] == by_kind[kind], (query, [r["path"] for r in rows])
        assert rows[0]["understood"][0]["kind"] == "text"
    for query in ("text:zebra", 'text:"amount total"', "text:xq"):
        assert cli.json("search", query, "--library", lib, "--all") == [], query


def test_cue_words_and_clip_words_together(read_library, cli, monkeypatch):
    monkeypatch.delenv("CLIPGALLERY_OCR", raising=False)
    root, lib, with_text, plain = read_library
    by_kind = {p.kind: str(p.path) for p in with_text}
    for query, kind in (("sign that says bakery", "sign"),
                        ("a photo with the text marathon", "shirt"),
                        ('page with the text "thank you"', "page")):
        rows = cli.json("search", query, "--library", lib, "--all")
        assert rows[0]["path"] == by_kind[kind], query
        assert rows[0]["best"] and "text" in rows[0]["why"] and "clip" in rows[0]["why"]
        # Photos without the text may follow (CLIP's other matches) but are never "best".
        assert all("text" in r["why"] for r in rows if r["best"])
    # Plain output names the text, and the CLI exits cleanly.
    p = _run(root, "search", "text:marathon", "--library", lib)
    assert p.returncode == 0 and "“MARATHON”" in p.stdout and "shirt.jpg" in p.stdout
    assert "with the text" in p.stderr


def test_moved_and_copied_photos_are_not_read_again(tmp_path):
    with_text, plain = make_pictures(CORPUS, tmp_path / "all")
    photos = tmp_path / "photos"
    photos.mkdir()
    for pic in with_text[:2]:
        shutil.copy(pic.path, photos / pic.path.name)
    lib = tmp_path / "lib"
    s = _json(tmp_path, "index", photos, "--library", lib, "--model", TINY_CLIP)
    assert s["text"]["read"] == 2
    before = _reads(lib)
    (photos / "sub").mkdir()
    shutil.move(photos / "sign.jpg", photos / "sub" / "moved.jpg")
    shutil.copy(photos / "shirt.jpg", photos / "copy.jpg")
    s = _json(tmp_path, "index", "--library", lib)
    assert s["moved"] == 1 and s["copies"] == 1
    assert s["text"]["read"] == 0 and _reads(lib) == before
    rows = _json(tmp_path, "search", "text:marathon", "--library", lib, "--all", "--no-stack")
    assert {Path(r["path"]).name for r in rows} == {"shirt.jpg", "copy.jpg"}
    assert [Path(r["path"]).name for r in _json(
        tmp_path, "search", "text:bakery", "--library", lib)] == ["moved.jpg"]


_SLOW_PASS = """
import sys, time
from clipgallery.core.indexing import ocr_pass
from clipgallery.core.store.library import Library
with Library.open(sys.argv[1], write=True) as lib:
    p = ocr_pass.for_library(lib)
    p.batch = 1
    read = p.reader.read
    def paced(*a, **k):  # the real reader, paced so that the kill lands mid-pass
        time.sleep(0.5)
        return read(*a, **k)
    p.reader.read = paced
    p.run()
"""


def test_sigkill_during_the_text_pass_then_resume(tmp_path):
    with_text, plain = make_pictures(CORPUS, tmp_path / "photos")
    total = len(with_text) + len(plain)
    lib = tmp_path / "lib"
    s = _json(tmp_path, "index", tmp_path / "photos", "--library", lib, "--model", TINY_CLIP,
              "--no-ocr")
    assert s["text"] is None and _reads(lib) == {}
    child = subprocess.Popen([sys.executable, "-c", _SLOW_PASS, str(lib)], env=_env(tmp_path),
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while len(_reads(lib)) < 2 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    done = _reads(lib)
    assert 2 <= len(done) < total, len(done)
    s = _json(tmp_path, "index", "--library", lib)
    assert s["text"]["read"] == total - len(done)
    after = _reads(lib)
    assert len(after) == total
    assert {h: after[h] for h in done} == done  # read once: not again after the restart
    assert sum(st == "text" for st, _ in after.values()) == len(with_text)
    check = _json(tmp_path, "check", "--library", lib)
    assert check["ok"], check


def test_no_ocr_flag_and_setting_off(tmp_path):
    with_text, plain = make_pictures(CORPUS, tmp_path / "all")
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(with_text[0].path, photos / "sign.jpg")
    lib = tmp_path / "lib"
    s = _json(tmp_path, "index", photos, "--library", lib, "--model", TINY_CLIP, "--no-ocr")
    assert s["text"] is None and _reads(lib) == {}
    assert _json(tmp_path, "search", "text:bakery", "--library", lib) == []
    p = _run(tmp_path, "settings", "ocr", "off", "--library", lib)
    assert p.returncode == 0 and "ocr: off" in p.stdout
    assert _json(tmp_path, "settings", "--library", lib)["ocr"] == "off"
    assert _json(tmp_path, "index", "--library", lib)["text"] is None and _reads(lib) == {}
    p = _run(tmp_path, "settings", "ocr", "maybe", "--library", lib)
    assert p.returncode == 2 and "ocr must be one of on, off" in p.stderr
    assert _run(tmp_path, "settings", "ocr", "on", "--library", lib).returncode == 0
    assert _json(tmp_path, "index", "--library", lib)["text"]["read"] == 1
    assert [Path(r["path"]).name for r in _json(
        tmp_path, "search", "text:bakery", "--library", lib)] == ["sign.jpg"]


def test_a_file_that_no_longer_decodes_is_recorded_not_raised(tmp_path, monkeypatch):
    from clipgallery.core.indexing import ocr_pass
    from clipgallery.core.store.library import Library

    monkeypatch.delenv("CLIPGALLERY_OCR", raising=False)
    with_text, plain = make_pictures(CORPUS, tmp_path / "photos")
    lib = tmp_path / "lib"
    _json(tmp_path, "index", tmp_path / "photos", "--library", lib, "--model", TINY_CLIP,
          "--no-ocr")
    # After the CLIP pass, before the text pass: the file is cut short on disk.
    data = with_text[1].path.read_bytes()
    with_text[1].path.write_bytes(data[:200])
    with Library.open(lib, write=True) as library:
        p = ocr_pass.for_library(library)
        summary = p.run()
        counts = library.catalog.ocr_counts()
    assert summary.failed == 1 and summary.read == len(with_text) + len(plain)
    assert counts["failed"] == 1 and counts["text"] == len(with_text) - 1
    db = sqlite3.connect(lib / "catalog.sqlite3")
    (reason,) = db.execute("SELECT reason FROM ocr_reads WHERE status='failed'").fetchone()
    db.close()
    assert "truncated" in reason or "corrupt" in reason or "decode" in reason, reason


def test_the_pass_reads_the_clip_pass_copies_from_its_spool(tmp_path, monkeypatch):
    from PIL import Image

    from clipgallery.core.indexing import ocr_pass
    from clipgallery.core.store.library import Library

    monkeypatch.delenv("CLIPGALLERY_OCR", raising=False)
    with_text, plain = make_pictures(CORPUS, tmp_path / "photos")
    lib = tmp_path / "lib"
    _json(tmp_path, "index", tmp_path / "photos", "--library", lib, "--model", TINY_CLIP,
          "--no-ocr")
    with Library.open(lib, write=True) as library:
        p = ocr_pass.for_library(library)
        todo = library.catalog.ocr_todo(100)
        for _pid, h, path in todo:  # what the indexer's decoder hands over (on_decoded)
            with Image.open(path) as im:
                p.spool_put(h, im.convert("RGB"))
        assert len(list(p.spool.folder.glob("*.jpg"))) == len(todo)
        summary = p.run()
    assert summary.from_spool == len(todo) == summary.read
    assert summary.with_text == len(with_text)
    assert list(p.spool.folder.iterdir()) == []  # cleaned once read
    # Bounded: a full spool keeps nothing more (the pass then decodes the file itself).
    small = ocr_pass.Spool(tmp_path / "spool", max_bytes=1)
    img = Image.new("RGB", (800, 600), "white")
    assert small.put("a", img) and not small.put("b", img)
    assert small.get("a").size == (800, 600) and small.get("b") is None
    assert not small.put("c", Image.new("RGB", (100, 80)))  # too small to be worth it
