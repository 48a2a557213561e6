"""Tests of clipgallery.core.photos.imaging and clipgallery.core.photos.metadata on the real corpus.

The corpus (../shared/corpus beside the checkout, or $CLIPGALLERY_TEST_CORPUS) is read-only: tests that write
copy files into tmp_path first.
"""

from __future__ import annotations

import ast
import io
import math
import os
import shutil
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from clipgallery.core.photos import formats, imaging, metadata
from clipgallery.core.photos.imaging import Decoded, DecodeError, decode, thumbnail
from tests.conftest import CORPUS  # $CLIPGALLERY_TEST_CORPUS, like every test

SAMPLES = CORPUS / "exif-samples"
JPG = SAMPLES / "jpg"
ORIENT = JPG / "orientation"
RAW = CORPUS / "raw" / "RAW_KODAK_DC50_é.KDC"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="photo corpus not available")


def _corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file())


ALL_FILES = _corpus_files()
HEIF_FILES = [p for p in ALL_FILES if p.suffix.lower() in (".heic", ".heif")]


def _id(p: Path) -> str:
    return str(p.relative_to(CORPUS))


def _local_ts(*args: int) -> float:
    return datetime(*args).timestamp()


def _small(img: Image.Image, n: int = 32) -> np.ndarray:
    """A normalised n x n grey version of an image, for coarse comparisons."""
    a = np.asarray(img.convert("L").resize((n, n), Image.Resampling.BOX), dtype=np.float64)
    return (a - a.mean()) / (a.std() + 1e-9)


def _diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(_small(a) - _small(b)).mean())


def _assert_good(d: Decoded, min_side: int | None = None) -> None:
    assert isinstance(d, Decoded)
    assert type(d.image) is Image.Image  # loaded and detached from the decoder/file
    assert d.image.mode == "RGB"
    assert d.width > 0 and d.height > 0
    assert set(d.meta) == set(metadata.META_KEYS)
    assert (d.meta["width"], d.meta["height"]) == (d.width, d.height)
    iw, ih = d.image.size
    assert iw <= d.width and ih <= d.height
    # The reduced image has the orientation of the reported size.
    assert abs(iw / ih - d.width / d.height) <= 0.02 * (d.width / d.height) + 2 / ih
    if min_side is not None:
        assert min(iw, ih) >= min(min_side, d.width, d.height)


# -- every file of the corpus ---------------------------------------------------------------

@pytest.mark.parametrize("path", ALL_FILES, ids=_id)
def test_every_corpus_file_decodes_or_raises_decode_error(path: Path) -> None:
    is_image = imaging.is_image_path(path)
    if path.name.startswith("README"):
        assert not is_image
    try:
        d = decode(path, min_side=224)
    except DecodeError as e:
        assert isinstance(e.reason, str) and e.reason.strip()
        assert e.reason == str(e)
        if not is_image:
            assert e.reason.startswith("not an image")
        return
    assert is_image, f"{path} decoded but has no image extension"
    _assert_good(d, 224)
    assert d.meta["file_type"] == imaging.file_type(path)


def test_corpus_has_the_expected_mix() -> None:
    names = {p.name for p in ALL_FILES}
    assert "Canon_40D.jpg" in names and RAW.name in names
    assert len(HEIF_FILES) >= 4
    assert sum(imaging.is_image_path(p) for p in ALL_FILES) >= 90


# -- formats ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", HEIF_FILES, ids=_id)
def test_heif_decodes(path: Path) -> None:
    d = decode(path, min_side=224)
    _assert_good(d, 224)
    assert d.meta["file_type"] == "heic"
    ref = Image.open(path)  # pillow-heif applies the HEIF transforms itself
    assert (d.width, d.height) == ref.size


def test_heif_metadata_and_orientation() -> None:
    p = SAMPLES / "heic" / "mobile" / "iphone_13_pro_max.HEIC"
    d = decode(p, min_side=224)
    assert (d.width, d.height) == (3024, 4032)  # portrait: the file says "rotate 90"
    assert d.image.height > d.image.width
    m = d.meta
    assert m["orientation"] == 6
    assert m["camera_make"] == "Apple" and m["camera_model"] == "iPhone 13 Pro Max"
    assert m["lens"].startswith("iPhone 13 Pro Max back")
    # 2022:02:16 12:55:41, OffsetTimeOriginal +01:00, SubSecTimeOriginal 762
    exact = datetime(2022, 2, 16, 12, 55, 41, tzinfo=timezone(timedelta(hours=1))).timestamp()
    assert m["taken_at"] == pytest.approx(exact + 0.762, abs=1e-3)


def test_raw_kdc_decodes(tmp_path: Path) -> None:
    d = decode(RAW)
    _assert_good(d)
    assert (d.width, d.height) == (768, 512)
    assert d.image.size == (384, 256)  # half-size decode: the embedded thumb is 96x64
    m = d.meta
    assert m["file_type"] == "raw" and m["orientation"] == 1
    assert m["camera_make"] == "Eastman Kodak Company"
    assert "DC50" in m["camera_model"]
    assert m["taken_at"] == pytest.approx(_local_ts(1997, 4, 23, 8, 0, 47))
    # From memory, and under a copied name, the same result.
    data = RAW.read_bytes()
    d2 = decode(tmp_path / "copy.kdc", data, min_side=100)
    assert d2.image.tobytes() == d.image.tobytes() and d2.meta["camera_make"] == m["camera_make"]
    t = thumbnail(RAW, 128)
    assert t.mode == "RGB" and t.size == (128, 85)
    # Not a RAW at all, with a RAW name: Pillow gets its chance; garbage is refused.
    shutil.copy(JPG / "Canon_40D.jpg", tmp_path / "renamed.nef")
    assert decode(tmp_path / "renamed.nef").meta["camera_model"] == "Canon EOS 40D"
    (tmp_path / "garbage.cr2").write_bytes(np.random.default_rng(1).bytes(10_000))
    with pytest.raises(DecodeError, match="not an image"):
        decode(tmp_path / "garbage.cr2")
    (tmp_path / "cut.kdc").write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="truncated or corrupt"):
        decode(tmp_path / "cut.kdc")


def test_raw_preview_orientation_choice() -> None:
    po = imaging._preview_orientation
    # Unrotated preview of a camera held upright: LibRaw's flip wins.
    assert po((1620, 1080), (6000, 4000), 6, None) == 6
    assert po((1620, 1080), (6000, 4000), 8, 1) == 8
    # A preview that is already upright is not rotated twice.
    assert po((1080, 1620), (6000, 4000), 6, None) == 1
    # No flip in the RAW: the preview's own EXIF.
    assert po((1620, 1080), (6000, 4000), 1, 3) == 3
    assert po((1620, 1080), (6000, 4000), 1, None) == 1


def test_modes_are_converted_to_rgb(tmp_path: Path) -> None:
    # RGBA: transparent pixels become white, opaque ones keep their colour.
    rgba = Image.new("RGBA", (40, 30), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 255, 0))
    rgba.save(tmp_path / "a.png")
    img = decode(tmp_path / "a.png").image
    assert img.getpixel((0, 0)) == (255, 255, 255) and img.getpixel((5, 5)) == (255, 0, 0)
    # LA
    Image.new("LA", (20, 20), (0, 0)).save(tmp_path / "la.png")
    assert decode(tmp_path / "la.png").image.getpixel((3, 3)) == (255, 255, 255)
    # Palette with a transparent index (GIF), first frame only.
    frames = [Image.new("P", (16, 16), i) for i in (1, 2)]
    for f in frames:
        f.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:],
                   transparency=0, duration=100)
    img = decode(tmp_path / "anim.gif").image
    assert img.mode == "RGB" and img.getpixel((1, 1)) == (255, 0, 0)
    # CMYK JPEG
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg", quality=95)
    r, g, b = decode(tmp_path / "cmyk.jpg").image.getpixel((8, 8))
    assert r > 200 and g < 60 and b < 60
    # 16-bit grey TIFF and PNG are scaled to 8 bits, not clipped.
    arr = np.array([[0, 32768, 65535, 1000]], dtype=np.uint16).repeat(4, axis=0)
    Image.fromarray(arr).save(tmp_path / "g16.tif")
    Image.fromarray(arr).save(tmp_path / "g16.png")
    for name in ("g16.tif", "g16.png"):
        img = decode(tmp_path / name).image
        assert [img.getpixel((x, 0))[0] for x in range(4)] == [0, 128, 255, 4], name
    # Float TIFF in 0..1
    Image.fromarray(np.full((4, 4), 0.5, dtype=np.float32)).save(tmp_path / "f.tif")
    assert decode(tmp_path / "f.tif").image.getpixel((0, 0)) == (128, 128, 128)
    # 1-bit BMP, WebP
    Image.new("1", (8, 8), 1).save(tmp_path / "b.bmp")
    assert decode(tmp_path / "b.bmp").image.getpixel((0, 0)) == (255, 255, 255)
    Image.new("RGB", (64, 48), (0, 0, 255)).save(tmp_path / "w.webp", lossless=True)
    assert decode(tmp_path / "w.webp").image.getpixel((5, 5)) == (0, 0, 255)


# -- orientation -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["landscape", "portrait"])
@pytest.mark.parametrize("min_side", [None, 224, 64])
def test_orientation_all_eight_look_the_same(kind: str, min_side: int | None) -> None:
    decoded = [decode(ORIENT / f"{kind}_{i}.jpg", min_side=min_side) for i in range(1, 9)]
    first = decoded[0]
    expected = (600, 450) if kind == "landscape" else (450, 600)
    for i, d in enumerate(decoded, start=1):
        _assert_good(d, min_side)
        assert (d.width, d.height) == expected
        assert d.image.size == first.image.size
        assert d.meta["orientation"] == i
        # Same picture (the digit drawn on each differs; #1 is also a bit brighter,
        # hence the normalised comparison) ...
        right = _diff(d.image, decoded[1].image)
        assert right < 0.25, (i, right)
        # ... and clearly better than any other way round.
        for t in Image.Transpose:
            wrong = _diff(d.image.transpose(t), decoded[1].image)
            assert wrong > 2 * right + 0.2, (i, t, right, wrong)


@pytest.mark.parametrize("kind", ["landscape", "portrait"])
def test_orientation_thumbnails(kind: str) -> None:
    thumbs = [thumbnail(ORIENT / f"{kind}_{i}.jpg", 100) for i in range(1, 9)]
    expected = (100, 75) if kind == "landscape" else (75, 100)
    for i, t in enumerate(thumbs, start=1):
        assert t.mode == "RGB" and t.size == expected
        assert _diff(t, thumbs[1]) < 0.25, i


def _srgb_reference(p: Path) -> Image.Image:
    """Pillow's own orientation + littlecms conversion of the embedded profile to sRGB."""
    import io as _io

    from PIL import ImageCms

    im = Image.open(p)
    icc = im.info.get("icc_profile")
    out = ImageOps.exif_transpose(im).convert("RGB")
    if icc:
        out = ImageCms.profileToProfile(out, ImageCms.ImageCmsProfile(_io.BytesIO(icc)),
                                        ImageCms.createProfile("sRGB"), outputMode="RGB")
    return out


def test_orientation_matches_pillow_reference() -> None:
    for i in range(1, 9):
        p = ORIENT / f"portrait_{i}.jpg"
        ref = _srgb_reference(p)
        d = decode(p)
        assert d.image.size == ref.size
        a = np.asarray(d.image, dtype=np.int16)
        b = np.asarray(ref, dtype=np.int16)
        assert np.abs(a - b).max() <= 1  # the same pixels


def test_embedded_colour_profiles_are_converted_to_srgb() -> None:
    # orientation/*_1.jpg has no profile; *_2..8 carry Apple's "Generic RGB" profile
    # and darker pixel values: only after conversion to sRGB do they match.
    plain = np.asarray(decode(ORIENT / "landscape_1.jpg").image, dtype=np.float32)
    tagged = np.asarray(decode(ORIENT / "landscape_3.jpg").image, dtype=np.float32)
    raw = np.asarray(ImageOps.exif_transpose(Image.open(ORIENT / "landscape_3.jpg"))
                     .convert("RGB"), dtype=np.float32)
    assert np.abs(tagged - plain).mean() < 6 < np.abs(raw - plain).mean()


def test_broken_orientation_values_do_not_rotate(tmp_path: Path) -> None:
    src = Image.open(JPG / "Canon_40D.jpg")
    for value in (0, 9, 65535):
        exif = Image.Exif()
        exif[0x0112] = value
        src.save(tmp_path / f"o{value}.jpg", exif=exif.tobytes())
        d = decode(tmp_path / f"o{value}.jpg")
        assert d.image.size == src.size and (d.width, d.height) == src.size
        assert d.meta["orientation"] is None


# -- draft mode and reduction ------------------------------------------------------------

@pytest.fixture(scope="module")
def big_jpegs(tmp_path_factory) -> dict[str, Path]:
    """A 6000x4000 camera-like JPEG, plain and tagged with orientation 6."""
    d = tmp_path_factory.mktemp("big")
    src = Image.open(JPG / "mobile" / "jolla.jpg").convert("RGB")
    big = src.resize((6000, 4000), Image.Resampling.BILINEAR)
    plain, rotated = d / "big.jpg", d / "big_rot6.jpg"
    big.save(plain, quality=92)
    exif = Image.Exif()
    exif[0x0112] = 6
    big.save(rotated, quality=92, exif=exif.tobytes())
    return {"plain": plain, "rotated": rotated}


def test_draft_mode_reduces(big_jpegs) -> None:
    p = big_jpegs["plain"]
    t0 = time.perf_counter()
    d = decode(p, min_side=224)
    t_draft = time.perf_counter() - t0
    assert (d.width, d.height) == (6000, 4000)
    assert d.image.size == (750, 500)  # 1/8 DCT scaling: the largest libjpeg offers
    assert 224 <= min(d.image.size) <= 500
    t0 = time.perf_counter()
    full = decode(p)
    t_full = time.perf_counter() - t0
    assert full.image.size == (6000, 4000)
    assert t_draft < t_full
    # A request close to the size gives the mildest reduction that still covers it.
    assert decode(p, min_side=2000).image.size == (3000, 2000)
    assert decode(p, min_side=2001).image.size == (6000, 4000)
    assert decode(p, min_side=1000).image.size == (1500, 1000)


def test_draft_mode_with_rotation(big_jpegs) -> None:
    d = decode(big_jpegs["rotated"], min_side=224)
    assert (d.width, d.height) == (4000, 6000)
    assert d.image.size == (500, 750)
    assert d.meta["orientation"] == 6
    t = thumbnail(big_jpegs["rotated"], 256)
    assert t.size == (171, 256)


def test_non_jpeg_is_reduced_too(tmp_path: Path) -> None:
    src = Image.open(JPG / "exif-org" / "nikon-e950.jpg")  # 800x600
    src.save(tmp_path / "photo.png", compress_level=1)
    src.save(tmp_path / "photo.tif")
    for name in ("photo.png", "photo.tif"):
        d = decode(tmp_path / name, min_side=100)
        assert (d.width, d.height) == (800, 600)
        assert d.image.size == (267, 200)  # shorter side 2 x min_side, aspect kept
        assert decode(tmp_path / name, min_side=200).image.size == (800, 600)


def test_thumbnail_fits(big_jpegs, tmp_path: Path) -> None:
    t = thumbnail(big_jpegs["plain"], 256)
    assert t.mode == "RGB" and t.size == (256, 171)
    small = JPG / "Canon_40D.jpg"  # 100x68: never enlarged
    assert thumbnail(small, 256).size == (100, 68)
    heic = SAMPLES / "heic" / "mobile" / "iphone_13_pro_max.HEIC"
    assert thumbnail(heic, 200).size == (150, 200)
    with pytest.raises(ValueError):
        thumbnail(small, 0)


# -- bad input ---------------------------------------------------------------------------

def _reason(path, data=None, **kw) -> str:
    with pytest.raises(DecodeError) as ei:
        decode(path, data, **kw)
    return ei.value.reason


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    assert _reason(p) == "empty file (0 bytes)"
    assert _reason(p, b"") == "empty file (0 bytes)"
    with pytest.raises(DecodeError, match="empty file"):
        thumbnail(p, 64)


@pytest.mark.parametrize("name", ["mobile/jolla.jpg", "Canon_40D.jpg", "gps/DSCN0010.jpg"])
def test_truncated_jpeg(tmp_path: Path, name: str) -> None:
    data = (JPG / name).read_bytes()
    p = tmp_path / "half.jpg"
    p.write_bytes(data[: len(data) // 2])
    for min_side in (None, 224):
        assert _reason(p, min_side=min_side).startswith("truncated or corrupt image")
    with pytest.raises(DecodeError, match="truncated"):
        thumbnail(p, 128)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on the cut TIFF's EXIF
def test_truncated_other_formats(tmp_path: Path) -> None:
    png = tmp_path / "x.png"
    Image.open(JPG / "exif-org" / "nikon-e950.jpg").save(png)
    heic = SAMPLES / "heic" / "mobile" / "iphone_13_pro_max.HEIC"
    tif = SAMPLES / "tiff" / "BSG1.tiff"
    for src in (png, heic, tif):
        data = src.read_bytes()
        cut = tmp_path / ("cut" + src.suffix)
        cut.write_bytes(data[: len(data) // 2])
        assert _reason(cut).startswith("truncated or corrupt image"), src


def test_not_images(tmp_path: Path) -> None:
    rnd = tmp_path / "random.jpg"
    rnd.write_bytes(np.random.default_rng(0).bytes(4096))
    assert _reason(rnd) == "not an image (unrecognised data)"
    txt = tmp_path / "notes.png"
    txt.write_text("This is not a picture.\n" * 20)
    assert _reason(txt) == "not an image (unrecognised data)"
    assert _reason(CORPUS / "README.md") == "not an image (unrecognised data)"
    # Formats we refuse to parse even when they are named like photos.
    (tmp_path / "ps.jpg").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n")
    assert _reason(tmp_path / "ps.jpg") == "unsupported format (PostScript)"
    (tmp_path / "doc.png").write_bytes(b"%PDF-1.7\n" + b"\0" * 100)
    assert _reason(tmp_path / "doc.png") == "unsupported format (PDF document)"
    (tmp_path / "psd.jpg").write_bytes(b"8BPS\x00\x01" + b"\0" * 100)
    assert _reason(tmp_path / "psd.jpg") == "unsupported format (Photoshop document)"


def test_content_wins_over_extension(tmp_path: Path) -> None:
    p = tmp_path / "really_a_jpeg.png"
    shutil.copy(JPG / "Canon_40D.jpg", p)
    d = decode(p)
    assert d.meta["camera_model"] == "Canon EOS 40D"
    assert d.meta["file_type"] == "png"  # the catalog's type is from the extension


def test_too_many_pixels(tmp_path: Path, big_jpegs) -> None:
    png = tmp_path / "photo.png"
    Image.open(JPG / "exif-org" / "nikon-e950.jpg").save(png)  # 800x600
    assert _reason(png, max_pixels=1000) == \
        "image too large: 0.48 megapixels (limit 0.001)"
    assert decode(png, max_pixels=800 * 600).width == 800  # the limit is inclusive
    assert _reason(big_jpegs["plain"], min_side=224, max_pixels=20_000_000) == \
        "image too large: 24 megapixels (limit 20)"
    with pytest.raises(DecodeError, match="image too large"):
        thumbnail(big_jpegs["plain"], 64, max_pixels=1_000_000)
    assert _reason(RAW, max_pixels=1000).startswith("image too large")
    heic = SAMPLES / "heic" / "mobile" / "iphone_13_pro_max.HEIC"
    assert _reason(heic, max_pixels=1_000_000).startswith("image too large: 12.2 megapixels")
    # Pillow's own global limit is not what stops us (nor what lets a bomb through).
    assert Image.MAX_IMAGE_PIXELS is None


def test_pixel_limit_is_checked_before_decoding(tmp_path: Path) -> None:
    # A tiny PNG that claims to be 100000 x 100000 pixels (a "decompression bomb").
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = (100_000).to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    p = tmp_path / "bomb.png"
    p.write_bytes(bytes(data))
    t0 = time.perf_counter()
    assert _reason(p) == "image too large: 10000 megapixels (limit 200)"
    assert time.perf_counter() - t0 < 1.0


def test_folder_named_like_a_photo(tmp_path: Path) -> None:
    p = tmp_path / "x.jpg"
    p.mkdir()
    assert imaging.is_image_path(p)
    assert _reason(p) == "not a file (it is a folder)"
    with pytest.raises(DecodeError, match="folder"):
        thumbnail(p, 64)


def test_vanished_file(tmp_path: Path) -> None:
    assert _reason(tmp_path / "gone.jpg") == "file vanished while reading"
    with pytest.raises(DecodeError, match="vanished"):
        thumbnail(tmp_path / "gone.jpg", 64)
    # With the bytes already read, a vanished path still decodes (no mtime fallback).
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), "red").save(buf, format="JPEG")
    d = decode(tmp_path / "gone.jpg", buf.getvalue())
    assert d.width == 32 and d.meta["taken_at"] is None


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root (or a non-POSIX system) can read anything")
def test_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "secret.jpg"
    shutil.copy(JPG / "Canon_40D.jpg", p)
    p.chmod(0)
    try:
        assert _reason(p) == "cannot read file: permission denied"
    finally:
        p.chmod(0o644)


@pytest.mark.skipif(os.name != "posix", reason="FIFOs are POSIX")
def test_fifo_does_not_block(tmp_path: Path) -> None:
    p = tmp_path / "pipe.jpg"
    os.mkfifo(p)
    assert _reason(p) == "not a regular file"


@pytest.mark.skipif(os.name != "posix", reason="byte file names are POSIX")
def test_awkward_file_names(tmp_path: Path) -> None:
    src = JPG / "Canon_40D.jpg"
    raw_name = os.path.join(os.fsencode(tmp_path), b"caf\xe9.jpg")  # not UTF-8
    try:
        shutil.copy(src, raw_name)
    except (UnicodeEncodeError, OSError):
        pytest.skip("file system refuses non-UTF-8 names")
    for path in (raw_name, os.fsdecode(raw_name), Path(os.fsdecode(raw_name))):
        assert imaging.is_image_path(path) and imaging.file_type(path) == "jpeg"
        d = decode(path, min_side=50)
        assert d.meta["camera_model"] == "Canon EOS 40D"
        assert thumbnail(path, 50).size == (50, 34)
    for name in ("with space.jpg", "quote's \"double\".JPG", "new\nline.Jpeg", " lead.jpe",
                 "ümlaut ☃.jpg", "-dash.jpg", "no_ext"):
        p = tmp_path / name
        shutil.copy(src, p)
        d = decode(p)
        assert d.width == 100 and d.meta["camera_make"] == "Canon"
        assert imaging.is_image_path(p) == (name != "no_ext")


def test_data_and_path_give_the_same_result() -> None:
    for p in (JPG / "Canon_40D.jpg", JPG / "hdr" / "canon_hdr_YES.jpg",
              SAMPLES / "tiff" / "Crémieux11.tiff", SAMPLES / "heic" / "samplefilehub.heif"):
        a = decode(p, min_side=100)
        b = decode(p, p.read_bytes(), min_side=100)
        assert a.image.tobytes() == b.image.tobytes()
        assert a.meta == b.meta and (a.width, a.height) == (b.width, b.height)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on the damaged EXIF
def test_only_decode_error_escapes(tmp_path: Path) -> None:
    # Random corruption inside real files: decode either works or raises DecodeError.
    rng = np.random.default_rng(42)
    sources = [JPG / "Canon_40D.jpg", JPG / "gps" / "DSCN0010.jpg",
               SAMPLES / "tiff" / "Jobagent.tiff", SAMPLES / "heic" / "samplefilehub.heif", RAW]
    for src in sources:
        data = bytearray(src.read_bytes())
        for k in range(6):
            bad = bytearray(data)
            for pos in rng.integers(0, min(len(bad), 4000), size=8):
                bad[pos] = int(rng.integers(0, 256))
            p = tmp_path / f"{k}{src.suffix}"
            p.write_bytes(bytes(bad))
            try:
                _assert_good(decode(p, min_side=32))
            except DecodeError as e:
                assert e.reason
            try:
                thumbnail(p, 32)
            except DecodeError as e:
                assert e.reason


def test_min_side_must_be_positive() -> None:
    with pytest.raises(ValueError):
        decode(JPG / "Canon_40D.jpg", min_side=0)


def test_decoding_is_thread_safe() -> None:
    paths = [p for p in ALL_FILES if imaging.is_image_path(p)
             and p.suffix.lower() in (".jpg", ".jpeg", ".tiff", ".kdc")][:40]

    def run(p: Path) -> tuple[bytes, dict]:
        d = decode(p, min_side=64)
        return d.image.tobytes(), d.meta

    serial = [run(p) for p in paths]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(run, paths))
    assert parallel == serial


# -- file types ------------------------------------------------------------------------

def test_extensions_and_file_types() -> None:
    assert imaging.RAW_EXTENSIONS <= imaging.IMAGE_EXTENSIONS
    assert all(e.startswith(".") and e == e.lower() for e in imaging.IMAGE_EXTENSIONS)
    for ext in (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif",
                ".heic", ".heif", ".hif", ".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf",
                ".orf", ".rw2", ".kdc", ".iiq", ".x3f", ".3fr"):
        assert ext in imaging.IMAGE_EXTENSIONS, ext
    cases = {"a.JPG": "jpeg", "b.jpeg": "jpeg", "c.PnG": "png", "d.webp": "webp",
             "e.TIF": "tiff", "f.bmp": "bmp", "g.gif": "gif", "h.HEIC": "heic",
             "i.heif": "heic", "j.hif": "heic", "k.CR2": "raw", "l.dng": "raw",
             "README": "unknown", "notes.txt": "txt", "archive.tar.gz": "gz"}
    for name, ft in cases.items():
        assert imaging.file_type(name) == ft, name
        assert imaging.file_type(Path("/x") / name) == ft
    assert imaging.is_image_path("IMG_0001.JPG") and imaging.is_image_path(Path("x.Nef"))
    assert not imaging.is_image_path("README") and not imaging.is_image_path("a.txt")
    assert not imaging.is_image_path("jpg") and not imaging.is_image_path(".jpg/README")
    assert imaging.DEFAULT_MAX_PIXELS >= 100_000_000


def test_the_registry_is_the_one_list_of_file_types() -> None:
    types = formats.file_types()
    assert formats.kinds() == tuple(ft.kind for ft in types)
    assert formats.kinds()[:3] == ("jpeg", "png", "heic")  # the filter bar's order
    assert imaging.FILE_TYPES == frozenset(formats.kinds())
    assert imaging.IMAGE_EXTENSIONS == formats.suffixes()
    assert sum(len(ft.suffixes) for ft in types) == len(formats.suffixes())  # no repeats
    assert imaging.RAW_EXTENSIONS == frozenset(formats.get("x.dng").suffixes)
    assert formats.get("x.DNG").decoder == formats.LIBRAW
    assert all(ft.decoder == formats.PILLOW and ft.pillow_formats
               for ft in types if ft.kind != "raw")
    assert set(imaging._PIL_FORMATS) == {"JPEG", "PNG", "WEBP", "TIFF", "BMP", "DIB",
                                         "GIF", "HEIF", "AVIF"}
    assert all(m.startswith("image/") for m in formats.mime_types())
    assert {"image/jpeg", "image/heic", "image/x-adobe-dng"} <= set(formats.mime_types())
    for ft in types:
        for suffix in ft.suffixes:
            assert formats.kind_for("a" + suffix.upper()) == ft.kind
    with pytest.raises(ValueError, match="already belongs"):
        formats.register(formats.FileType("jpeg2", "J", (".jpg",), ("image/jpeg",)))
    assert formats.kind_for("a.jpg") == "jpeg" and "jpeg2" not in formats.kinds()


def test_photos_modules_import_no_cycle() -> None:
    """formats imports nothing of ours; metadata only formats (not imaging)."""
    code = ("import sys; import clipgallery.core.photos.metadata; "
            "print(sorted(m for m in sys.modules if m.startswith('clipgallery')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert ast.literal_eval(out) == ["clipgallery", "clipgallery.core", "clipgallery.core.photos",
                                     "clipgallery.core.photos.formats",
                                     "clipgallery.core.photos.metadata"]


# -- metadata ------------------------------------------------------------------------------

def _pillow_gps(path: Path) -> tuple[float, float]:
    gps = Image.open(path).getexif().get_ifd(0x8825)
    lat = sum(float(v) / 60 ** i for i, v in enumerate(gps[2]))
    lon = sum(float(v) / 60 ** i for i, v in enumerate(gps[4]))
    return (-lat if gps[1] == "S" else lat), (-lon if gps[3] == "W" else lon)


def test_gps() -> None:
    gps_files = sorted((JPG / "gps").glob("*.jpg"))
    assert len(gps_files) >= 5
    for p in gps_files:
        m = decode(p, min_side=64).meta
        assert 43.0 < m["gps_lat"] < 44.0 and 11.5 < m["gps_lon"] < 12.5, p  # Tuscany
        lat, lon = _pillow_gps(p)
        assert m["gps_lat"] == pytest.approx(lat, abs=1e-9)
        assert m["gps_lon"] == pytest.approx(lon, abs=1e-9)
    m = decode(JPG / "gps" / "DSCN0010.jpg").meta
    assert m["gps_lat"] == pytest.approx(43 + 28 / 60 + 2.814 / 3600, abs=1e-7)
    assert m["gps_lon"] == pytest.approx(11 + 53 / 60 + 6.456 / 3600, abs=1e-6)
    # West and south are negative.
    m = decode(JPG / "hdr" / "iphone_hdr_YES.jpg").meta  # Madrid
    assert m["gps_lat"] == pytest.approx(40.44697, abs=1e-4)
    assert m["gps_lon"] == pytest.approx(-3.72475, abs=1e-4)
    m = decode(JPG / "Kodak_CX7530.jpg").meta
    assert m["gps_lat"] == pytest.approx(_pillow_gps(JPG / "Kodak_CX7530.jpg")[0])
    assert m["gps_lat"] < 0
    assert decode(JPG / "Canon_40D.jpg").meta["gps_lat"] is None


def test_canon_40d() -> None:
    d = decode(JPG / "Canon_40D.jpg")
    m = d.meta
    assert m["camera_make"] == "Canon" and m["camera_model"] == "Canon EOS 40D"
    # DateTimeOriginal 2008:05:30 15:56:01 (DateTime, the GIMP edit, is 2008:07:31).
    assert m["taken_at"] == _local_ts(2008, 5, 30, 15, 56, 1)
    assert m["orientation"] == 1 and m["file_type"] == "jpeg"
    assert (m["width"], m["height"]) == (100, 68)
    assert m["lens"] is None


def test_lens_and_strings() -> None:
    m = decode(JPG / "hdr" / "iphone_hdr_NO.jpg").meta
    assert m["lens"] == "iPhone 6 back camera 4.15mm f/2.2"
    assert m["camera_make"] == "Apple"
    m = decode(RAW).meta  # model is NUL-terminated in the file
    assert "\x00" not in m["camera_model"] and m["camera_model"] == m["camera_model"].strip()


@pytest.mark.parametrize("path", sorted((JPG / "tests").glob("*")) + sorted(
    (JPG / "invalid").glob("*.jpg")), ids=_id)
def test_broken_exif_never_raises(path: Path) -> None:
    img = Image.open(path)
    m = metadata.read_metadata(img, path)
    assert set(m) == set(metadata.META_KEYS)
    d = decode(path, min_side=128)
    _assert_good(d, 128)
    for key in ("camera_make", "camera_model", "lens"):
        assert d.meta[key] is None or (isinstance(d.meta[key], str) and d.meta[key])
    o = d.meta["orientation"]
    assert o is None or 1 <= o <= 8
    if d.meta["gps_lat"] is not None:
        assert -90 <= d.meta["gps_lat"] <= 90 and -180 <= d.meta["gps_lon"] <= 180


def test_read_metadata_survives_anything() -> None:
    class Hostile:
        size = (10, 20)
        info = {"original_orientation": "garbage"}

        def getexif(self):
            raise RuntimeError("boom")

    m = metadata.read_metadata(Hostile(), "x.heic", fallback_mtime=123.0)  # type: ignore[arg-type]
    assert m["width"] == 10 and m["height"] == 20 and m["file_type"] == "heic"
    assert m["taken_at"] == 123.0 and m["orientation"] is None
    assert m["camera_make"] is None and m["gps_lat"] is None


def test_read_metadata_with_odd_values(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "  ACME\x00\x00  "
    exif[0x0110] = "\x00"
    exif[0x0132] = "0000:00:00 00:00:00"
    exif[0x0112] = 6
    p = tmp_path / "odd.jpg"
    Image.new("RGB", (30, 20), "gray").save(p, exif=exif.tobytes())
    os.utime(p, (1_500_000_000, 1_500_000_000))
    d = decode(p)
    m = d.meta
    assert m["camera_make"] == "ACME" and m["camera_model"] is None
    assert m["taken_at"] == 1_500_000_000  # no usable EXIF date: the file's mtime
    assert (m["width"], m["height"]) == (20, 30) and d.image.size == (20, 30)


def test_fallback_mtime(tmp_path: Path) -> None:
    p = tmp_path / "no_exif.jpg"
    Image.new("RGB", (32, 24), "red").save(p)
    os.utime(p, (1_234_567_890.5, 1_234_567_890.5))
    assert decode(p).meta["taken_at"] == pytest.approx(1_234_567_890.5)
    # An EXIF date wins over the mtime.
    q = tmp_path / "canon.jpg"
    shutil.copy(JPG / "Canon_40D.jpg", q)
    os.utime(q, (1_234_567_890, 1_234_567_890))
    assert decode(q).meta["taken_at"] == _local_ts(2008, 5, 30, 15, 56, 1)


def test_parse_exif_datetime() -> None:
    parse = metadata.parse_exif_datetime
    assert parse("2008:05:30 15:56:01") == _local_ts(2008, 5, 30, 15, 56, 1)
    assert parse(b"2008:05:30 15:56:01\x00") == _local_ts(2008, 5, 30, 15, 56, 1)
    assert parse("2008-05-30T15:56:01") == _local_ts(2008, 5, 30, 15, 56, 1)
    assert parse("2008:05:30 15:56:01", "+02:00") == \
        datetime(2008, 5, 30, 13, 56, 1, tzinfo=UTC).timestamp()
    assert parse("2008:05:30 15:56:01", "-05:00", "5") == \
        datetime(2008, 5, 30, 20, 56, 1, 500000, tzinfo=UTC).timestamp()
    assert parse("2008:05:30 15:56:01", "bogus") == _local_ts(2008, 5, 30, 15, 56, 1)
    for bad in (None, "", "    :  :     :  :  ", "0000:00:00 00:00:00", "2008:13:40 10:00:00",
                "garbage", 12345, b"\xff\xfe", ("2008:05:30 15:56:01",), "2008:02:30 25:61:00"):
        assert parse(bad) is None, bad


def test_gps_decimal() -> None:
    from PIL.TiffImagePlugin import IFDRational

    g = metadata.gps_decimal
    dms = (IFDRational(43, 1), IFDRational(28, 1), IFDRational(2814, 1000))
    assert g(dms, "N", "S", "N", 90) == pytest.approx(43.467448333)
    assert g(dms, b"S\x00", "S", "N", 90) == pytest.approx(-43.467448333)
    assert g(dms, None, "S", "N", 90) == pytest.approx(43.467448333)  # missing ref
    assert g(dms, "X", "S", "N", 90) is None
    assert g((IFDRational(43, 0), 0, 0), "N", "S", "N", 90) is None  # zero denominator
    assert g(((43, 1), (30, 1), (0, 1)), "W", "W", "E", 180) == pytest.approx(-43.5)
    assert g((91, 0, 0), "N", "S", "N", 90) is None
    assert g((), "N", "S", "N", 90) is None
    assert g("garbage", "N", "S", "N", 90) is None
    assert g(12.5, "E", "W", "E", 180) == 12.5


# -- CLIP: the reduced image encodes like the full one -------------------------------------

CLIP_SAMPLES = [
    JPG / "mobile" / "jolla.jpg",
    JPG / "mobile" / "HMD_Nokia_8.3_5G.jpg",
    JPG / "hdr" / "canon_hdr_NO.jpg",  # orientation 6
    JPG / "tests" / "42_IndexError.jpg",
    JPG / "corrupted.jpg",
    JPG / "gps" / "DSCN0010.jpg",
    SAMPLES / "heic" / "mobile" / "iphone_13_pro_max.HEIC",  # embedded HEIF thumbnail
    SAMPLES / "heic" / "IMG_5195.HEIC",  # decoded, then reduced
]


@pytest.mark.slow  # ~25 s of CPU: torch import, a random ViT-B-32, 16 encodes
def test_reduced_image_encodes_like_the_full_one() -> None:
    torch = pytest.importorskip("torch")
    open_clip = pytest.importorskip("open_clip")
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    model.eval()
    fast, ref = [], []
    for p in CLIP_SAMPLES:
        fast.append(preprocess(decode(p, min_side=224).image))
        ref.append(preprocess(ImageOps.exif_transpose(Image.open(p).convert("RGB"))))
    with torch.no_grad():
        a = model.encode_image(torch.stack(fast))
        b = model.encode_image(torch.stack(ref))
    cos = torch.nn.functional.cosine_similarity(a, b).tolist()
    print("\ncosine (fast vs full decode):",
          ", ".join(f"{p.name}={c:.5f}" for p, c in zip(CLIP_SAMPLES, cos, strict=True)))
    for p, c in zip(CLIP_SAMPLES, cos, strict=True):
        assert c >= 0.995, (p.name, c)
    assert not any(math.isnan(c) for c in cos)


@pytest.mark.slow  # one random ViT-B-32, 16 encodes
def test_eight_orientations_give_the_same_vector() -> None:
    """EXIF orientation is applied before encoding (issue #4): cosine >= 0.99."""
    torch = pytest.importorskip("torch")
    open_clip = pytest.importorskip("open_clip")
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    model.eval()
    folder = JPG / "orientation"
    for kind in ("landscape", "portrait"):
        batch = torch.stack([preprocess(decode(folder / f"{kind}_{i}.jpg", min_side=224).image)
                             for i in range(1, 9)])
        with torch.no_grad():
            v = torch.nn.functional.normalize(model.encode_image(batch), dim=-1)
        cos = v @ v.T
        assert float(cos.min()) >= 0.99, (kind, cos.min())
        # And the check can fail: an unrotated variant is clearly different.
        raw = preprocess(Image.open(folder / f"{kind}_6.jpg").convert("RGB"))
        with torch.no_grad():
            u = torch.nn.functional.normalize(model.encode_image(raw[None]), dim=-1)
        assert float((u @ v[0]).item()) < float(cos.min())
