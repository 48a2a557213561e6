"""Index a copy of the real camera corpus: no crash, every file indexed or skipped."""

from __future__ import annotations

import shutil

from clipgallery.core.photos import imaging


def test_index_real_corpus(cli, corpus, tmp_path, library_dir, tiny_model):
    photos = tmp_path / "corpus"
    shutil.copytree(corpus, photos)
    summary = cli.json("index", photos, "--library", library_dir, "--model", tiny_model)
    status = cli.json("status", "--library", library_dir)
    files = [p for p in photos.rglob("*") if p.is_file() and not p.name.startswith(".")]
    skipped = {s["path"]: s["reason"] for s in status["skip_reasons"]}
    assert status["indexed"] + status["skipped"] == len(files)
    assert all(reason for reason in skipped.values())
    for f in files:
        if not imaging.is_image_path(f):
            assert str(f) in skipped and "not a supported image type" in skipped[str(f)]
    # Real photos of every kind made it in: HEIC, TIFF, RAW, phone JPEGs.
    hits = cli.json("search", "a photo", "--library", library_dir, "--limit", "1000")
    got = {h["path"] for h in hits}
    assert len(got) == status["indexed"] == summary["indexed"]
    for suffix in (".heic", ".heif", ".tiff", ".kdc"):
        assert any(p.lower().endswith(suffix) for p in got), suffix
    assert str(photos / "exif-samples/jpg/corrupted.jpg") in skipped or \
        str(photos / "exif-samples/jpg/corrupted.jpg") in got


def test_raw_and_jpeg_of_one_shot_are_one_result(cli, corpus, tmp_path, library_dir,
                                                  tiny_model):
    """A RAW file and the camera's JPEG of the same shot (same stem, same folder)."""
    folder = tmp_path / "card"
    folder.mkdir()
    raw = folder / "DC50_0001.KDC"
    shutil.copy(next((corpus / "raw").glob("*.KDC")), raw)
    imaging.decode(raw).image.save(folder / "DC50_0001.JPG", quality=90)
    for i, name in enumerate(("other_a.jpg", "other_b.jpg")):
        src = sorted((corpus / "exif-samples" / "jpg").glob("*.jpg"))[3 + 5 * i]
        shutil.copy(src, folder / name)
    s = cli.json("index", folder, "--library", library_dir, "--model", tiny_model)
    assert s["indexed"] == 4  # both files of the pair are known to the catalog
    rows = cli.json("search", "a photo", "--library", library_dir, "--all")
    pair = [r for r in rows if r["path"].startswith(str(folder / "DC50_0001."))]
    assert len(pair) == 2
    assert pair[0]["stack"] == pair[1]["stack"] and pair[0]["stack_size"] == 2
    others = [r for r in rows if r not in pair]
    assert all(r["stack_size"] == 1 for r in others)
