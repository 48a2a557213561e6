"""Decoding photos for the indexer (CLIP input + metadata) and the thumbnailer.

Called from worker threads (the indexer's decode pool, the app's thumbnail loader):
every function here is pure and thread-safe.  Module state is only set up at import
time and never changed afterwards: the HEIF opener is registered with Pillow, Pillow's
plugins are initialised, Pillow's EXIF-parser warnings are silenced, and Pillow's
process-wide decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) is switched off
because each call checks the pixel count itself against its own ``max_pixels`` before
any pixel is decoded.

Decoding is made cheap for the two callers, who never need full resolution:

* JPEG: libjpeg's DCT scaling (Pillow "draft" mode, 1/2, 1/4 or 1/8) before loading;
* HEIF: an embedded thumbnail when it is big enough (pillow-heif's draft mode);
* camera RAW: the embedded JPEG preview, else a half-size RAW decode (no demosaic);
* anything else: decoded in full, then box-reduced by an integer factor.

Hostile files are refused before any pixel is decoded, from what their headers declare
(:func:`screen`): more pixels than ``max_pixels``; more memory to decode than
``max_bytes``; a PNG, TIFF or uncompressed BMP that declares far more pixels than its bytes
can hold; a shape no photo has (over 100:1); a progressive JPEG whose scans would make
libjpeg walk its whole coefficient buffer thousands of times (a "scan bomb": 170 KB
that takes minutes of CPU).  What headers cannot reveal is bounded by
:mod:`clipgallery.core.photos.guard`, which decodes in a child process it can kill.

Every bad input gives :class:`DecodeError` with a short reason fit to show a user.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

from clipgallery.core.photos import formats as _formats
from clipgallery.core.photos import metadata as _md

try:  # HEIC / HEIF through libheif
    import pillow_heif
except ImportError:  # pragma: no cover - a broken install; HEIF files are then skipped
    pillow_heif = None
else:
    pillow_heif.register_heif_opener()

try:  # camera RAW through LibRaw
    import rawpy
except ImportError:  # pragma: no cover - a broken install; RAW files are then skipped
    rawpy = None

# Our own per-call check replaces Pillow's global limit (see module docstring).
Image.MAX_IMAGE_PIXELS = None
# Broken EXIF is common and handled here; Pillow's TIFF/EXIF parser would print a
# "Corrupt EXIF data" UserWarning for each such photo.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")
# Load every plugin now, so that worker threads never race to do it lazily.
Image.preinit()
Image.init()

__all__ = [
    "IMAGE_EXTENSIONS", "RAW_EXTENSIONS", "DEFAULT_MAX_PIXELS", "DecodeError", "Decoded",
    "DEFAULT_MAX_DECODE_BYTES", "is_image_path", "file_type", "decode", "thumbnail",
    "screen",
]

# Thin aliases of the registry in :mod:`clipgallery.core.photos.formats` (kept for callers).
RAW_EXTENSIONS: frozenset[str] = frozenset(
    s for ft in _formats.file_types() if ft.decoder == _formats.LIBRAW for s in ft.suffixes)
IMAGE_EXTENSIONS: frozenset[str] = _formats.suffixes()
#: The file types a filter can name ("jpeg", "heic", "raw", ...).
FILE_TYPES: frozenset[str] = frozenset(_formats.kinds())

DEFAULT_MAX_PIXELS: int = 200_000_000
#: Memory one decode may need (decoded pixels, JPEG coefficient buffers, RGB copies).
DEFAULT_MAX_DECODE_BYTES: int = 1 << 30

# Longest side over shortest side beyond which a file is no photo (a 360-degree
# panorama is about 8:1); it also keeps CLIP's resize within int32 sizes.
_MAX_ASPECT = 100
# Progressive JPEG: libjpeg walks every block of a scan's components once per scan.
# A real photo has about 10 scans (mozjpeg up to ~20); 200 megapixels with 30 scans is
# under 0.3e9 block visits (~1.5 s).  Beyond these a file is a scan bomb.
_MAX_SCANS = 1000
_MAX_SCAN_WORK = 1_000_000_000
# Pillow's in-memory bytes per pixel, by mode (RGB is stored as 4 bytes).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2,
               "LA": 4, "La": 4, "PA": 4}
# Deflate cannot compress better than 1032:1.
_DEFLATE_RATIO = 1032

# Pillow formats we are willing to parse (see formats.pillow_formats).
_PIL_FORMATS = _formats.pillow_formats()

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = frozenset({5, 6, 7, 8})

# LibRaw's ``flip`` (dcraw convention) -> EXIF orientation; inverse of dcraw's
# ``flip = "50132467"[orientation & 7]``.
_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}

_WHITE = (255, 255, 255)


class DecodeError(Exception):
    """A file could not be decoded; ``reason`` is short and fit to show a user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Decoded:
    """A decoded photo: a reduced RGB image plus the original's size and metadata."""

    image: Image.Image  # RGB, oriented, loaded; shorter side >= min_side when possible
    width: int  # original pixel size, after orientation
    height: int
    meta: dict[str, object] = field(default_factory=_md.empty_metadata)


# -- paths ------------------------------------------------------------------------------

def _ext(path: os.PathLike | str | bytes) -> str:
    return os.path.splitext(os.fsdecode(os.fspath(path)))[1].lower()


#: Whether the file name has a supported image extension (case-insensitive).
is_image_path = _formats.is_image_path
#: Short type from the extension: 'jpeg', 'png', 'heic', 'raw', ... (formats.kind_for).
file_type = _formats.kind_for


# -- public API -------------------------------------------------------------------------

def decode(path: os.PathLike | str, data: bytes | None = None, *,
           min_side: int | None = None,
           max_pixels: int = DEFAULT_MAX_PIXELS,
           max_bytes: int = DEFAULT_MAX_DECODE_BYTES) -> Decoded:
    """Decode a photo to an oriented RGB image, its original size and its metadata.

    ``data`` is the file's content when the caller already read it (else it is read
    from ``path``; ``path`` still gives the type and the fallback date).  With
    ``min_side`` the image is reduced cheaply while its shorter side stays
    ``>= min_side`` (never upscaled).  Files that :func:`screen` refuses are refused
    before decoding.  Raises :class:`DecodeError`, never anything else, for bad input
    (ValueError only for a non-positive ``min_side``: a bug).
    """
    if min_side is not None and min_side < 1:
        raise ValueError("min_side must be positive")
    return _guard(_decode, path, data, min_side, max_pixels, max_bytes)


def thumbnail(path: os.PathLike | str, size: int, *,
              max_pixels: int = DEFAULT_MAX_PIXELS,
              max_bytes: int = DEFAULT_MAX_DECODE_BYTES) -> Image.Image:
    """An oriented RGB thumbnail that fits in ``size`` x ``size``, keeping the aspect.

    Uses the cheapest good-enough source (JPEG draft mode, HEIF or RAW previews).
    Raises :class:`DecodeError` for bad input.
    """
    if size < 1:
        raise ValueError("size must be positive")
    return _guard(_thumbnail, path, size, max_pixels, max_bytes)


def screen(path: os.PathLike | str, data: bytes, *, min_side: int | None = None,
           max_pixels: int = DEFAULT_MAX_PIXELS,
           max_bytes: int = DEFAULT_MAX_DECODE_BYTES) -> int:
    """Judge a file from its headers alone, without decoding a pixel (cheap).

    Returns about how many bytes :func:`decode` with the same arguments will need;
    raises :class:`DecodeError` with the reason :func:`decode` would give for a file
    it refuses before decoding (too many pixels, too much memory, a declared size its
    bytes cannot hold, a scan bomb, an unreadable header).  Camera RAW files are
    judged by LibRaw when decoded; for them this is a fixed estimate.
    """
    if _ext(path) in RAW_EXTENSIONS:
        return min(max_bytes, 256 << 20)
    if not data:
        raise DecodeError("empty file (0 bytes)")
    req = _Request(min_side=min_side, thumb_size=None, max_pixels=max_pixels,
                   want_meta=False, path=path, mtime=None, max_bytes=max_bytes)
    img = _guard(_open_pillow, data)
    try:
        _check_pixels(img.size, max_pixels)
        return _guard(_check_cost, img, data, req)
    finally:
        img.close()


def _guard(fn, *args):
    """Run ``fn``; turn every failure into a DecodeError."""
    try:
        return fn(*args)
    except DecodeError:
        raise
    except MemoryError:
        raise DecodeError("not enough memory to decode the image") from None
    except RecursionError:
        raise DecodeError("truncated or corrupt image: nesting too deep") from None
    except Exception as e:  # noqa: BLE001 - a decoder bug must not escape as anything else
        raise DecodeError(f"cannot decode image: {_describe(e)}") from e


def _decode(path, data, min_side, max_pixels, max_bytes) -> Decoded:
    if data is None:
        data, mtime = _read(path)
    else:
        data = data if isinstance(data, bytes) else bytes(data)
        mtime = _mtime(path)
    if not data:
        raise DecodeError("empty file (0 bytes)")
    req = _Request(min_side=min_side, thumb_size=None, max_pixels=max_pixels,
                   want_meta=True, path=path, mtime=mtime, max_bytes=max_bytes)
    out = _load(data, _ext(path), req)
    return Decoded(image=out.image, width=out.width, height=out.height, meta=out.meta)


def _thumbnail(path, size, max_pixels, max_bytes) -> Image.Image:
    data, _ = _read(path)
    if not data:
        raise DecodeError("empty file (0 bytes)")
    req = _Request(min_side=None, thumb_size=size, max_pixels=max_pixels,
                   want_meta=False, path=path, mtime=None, max_bytes=max_bytes)
    img = _load(data, _ext(path), req).image
    if img.width > size or img.height > size:
        img.thumbnail((size, size), Image.Resampling.BICUBIC)
    return img


# -- internals --------------------------------------------------------------------------

@dataclass
class _Request:
    min_side: int | None  # decode(): keep the shorter side >= this
    thumb_size: int | None  # thumbnail(): the result must fit in this square
    max_pixels: int
    want_meta: bool
    path: os.PathLike | str
    mtime: float | None
    max_bytes: int = DEFAULT_MAX_DECODE_BYTES


@dataclass
class _Out:
    image: Image.Image
    width: int
    height: int
    meta: dict[str, object]


def _describe(e: BaseException) -> str:
    msg = str(e)
    if e.args and isinstance(e.args[0], bytes):  # rawpy passes bytes messages
        msg = e.args[0].decode(errors="replace")
    msg = " ".join(msg.split())
    if not msg:
        msg = type(e).__name__
    return msg[:200]


def _read(path) -> tuple[bytes, float | None]:
    """The file's bytes and mtime; DecodeError with a user-facing reason on failure."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise DecodeError("not a file (it is a folder)")
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block, a device never end
            raise DecodeError("not a regular file")
        with open(path, "rb") as f:
            return f.read(), st.st_mtime
    except DecodeError:
        raise
    except FileNotFoundError:
        raise DecodeError("file vanished while reading") from None
    except IsADirectoryError:
        raise DecodeError("not a file (it is a folder)") from None
    except PermissionError:
        raise DecodeError("cannot read file: permission denied") from None
    except ValueError:  # e.g. a NUL in the name
        raise DecodeError("cannot read file: invalid file name") from None
    except OSError as e:
        raise DecodeError(f"cannot read file: {(e.strerror or str(e)).lower()}") from None


def _mtime(path) -> float | None:
    try:
        return os.stat(path).st_mtime
    except (OSError, ValueError):
        return None


def _megapixels(n: int) -> str:
    mp = n / 1e6
    return f"{mp:.0f}" if mp >= 100 else f"{mp:.3g}"


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise DecodeError(f"truncated or corrupt image: invalid size {w}x{h}")
    if w * h > max_pixels:
        raise DecodeError(f"image too large: {_megapixels(w * h)} megapixels "
                          f"(limit {_megapixels(max_pixels)})")


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _mb(n: int) -> str:
    return f"{max(1, round(n / (1 << 20)))} MB"


def _check_cost(img: Image.Image, data: bytes, req: _Request) -> int:
    """Refuse, from an opened (not loaded) image's header, what no photo looks like or
    what would cost too much to decode; else return the bytes the decode will need."""
    w, h = img.size
    if max(w, h) > _MAX_ASPECT * min(w, h):
        raise DecodeError(f"not a photo: {w}×{h} pixels is too long and narrow "
                          f"(over {_MAX_ASPECT}:1)")
    if img.format in ("JPEG", "MPO"):  # MPO: JPEGs one after another (phones)
        need = _jpeg_cost(img, data, req)
    else:
        _check_declared_size(img, data)
        per_pixel = _MODE_BYTES.get(img.mode, 4)
        if img.mode != "RGB":  # converted to an RGB copy before it is reduced
            per_pixel += 4
        need = w * h * per_pixel
    if need > req.max_bytes:
        raise DecodeError(f"image too large ({w}×{h}): decoding it needs about "
                          f"{_mb(need)} of memory (limit {_mb(req.max_bytes)})")
    return need


def _draft_scale(size: tuple[int, int], req: _Request) -> int:
    """The DCT scale (1, 2, 4 or 8) Pillow's JPEG draft mode will pick for ``req``."""
    if req.min_side is not None:
        want = (req.min_side, req.min_side)
    elif req.thumb_size is not None:
        tw, th = _thumb_target(size, req.thumb_size)
        want = (2 * tw, 2 * th)
    else:
        return 1
    scale = min(size[0] // max(1, want[0]), size[1] // max(1, want[1]))
    for s in (8, 4, 2):
        if scale >= s:
            return s
    return 1


def _jpeg_cost(img: Image.Image, data: bytes, req: _Request) -> int:
    """Bytes a JPEG decode needs; refuses a progressive scan bomb.

    A progressive JPEG is decoded into a coefficient buffer of the full image (128 bytes
    a block) and libjpeg walks that buffer once per scan, even for an empty scan.  The
    scans are counted by their SOS markers (0xFFDA cannot occur inside entropy-coded
    data; an EXIF thumbnail adds a few, which does not matter here).
    """
    w, h = img.size
    layers = getattr(img, "layer", None) or [(1, 1, 1, 0)]
    hmax = max(max(int(x[1]), 1) for x in layers)
    vmax = max(max(int(x[2]), 1) for x in layers)
    blocks = sum(_ceil(_ceil(w * max(int(x[1]), 1), hmax), 8) *
                 _ceil(_ceil(h * max(int(x[2]), 1), vmax), 8) for x in layers)
    scale = _draft_scale((w, h), req)
    need = 2 * _ceil(w, scale) * _ceil(h, scale) * 4  # output + its RGB copy
    if img.info.get("progressive") or img.info.get("progression"):
        scans = data.count(b"\xff\xda")
        if scans > _MAX_SCANS or blocks * scans > _MAX_SCAN_WORK:
            raise DecodeError(f"would take too long to decode: progressive JPEG of "
                              f"{w}×{h} pixels with {scans} scans")
        need += blocks * 128
    return need


def _as_tuple(value: object) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _check_declared_size(img: Image.Image, data: bytes) -> None:
    """Refuse a PNG, TIFF or uncompressed BMP that declares more pixels than its bytes
    can hold: it is cut short, and decoding it would first allocate the declared size."""
    w, h = img.size
    n = len(data)
    if img.format == "PNG" and data[12:16] == b"IHDR":
        depth, colour = data[24], data[25]
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 4)
        raw = h * (1 + _ceil(w * channels * max(depth, 1), 8))
        if n * _DEFLATE_RATIO < raw:
            raise DecodeError(f"truncated or corrupt image: a PNG of {w}×{h} pixels "
                              f"cannot fit in {n} bytes")
    elif img.format == "BMP" and img.info.get("compression") == 0 and n >= 30 \
            and int.from_bytes(data[14:18], "little") >= 40:  # a BITMAPINFOHEADER
        bits = int.from_bytes(data[28:30], "little")
        raw = h * ((w * bits + 31) // 32 * 4)
        if n < raw:
            raise DecodeError(f"truncated or corrupt image: a BMP of {w}×{h} pixels "
                              f"cannot fit in {n} bytes")
    elif img.format == "TIFF":
        tags = getattr(img, "tag_v2", None) or {}
        offsets = _as_tuple(tags.get(273) or tags.get(324))
        counts = _as_tuple(tags.get(279) or tags.get(325))
        bits = sum(int(b) for b in _as_tuple(tags.get(258) or 8))
        short = any(int(o) + int(c) > n for o, c in zip(offsets, counts, strict=False))
        if short or (tags.get(259, 1) == 1 and n < w * h * bits // 8):
            raise DecodeError(f"truncated or corrupt image: a TIFF of {w}×{h} pixels "
                              f"cannot fit in {n} bytes")


def _load(data: bytes, ext: str, req: _Request) -> _Out:
    if ext in RAW_EXTENSIONS:  # the registry's LIBRAW-decoded suffixes
        out = _load_raw(data, req)
        if out is not None:
            return out
        # Not something LibRaw knows: maybe a JPEG/TIFF with a RAW name.
    return _load_pillow(data, req)


def _open_pillow(data: bytes) -> Image.Image:
    if data[4:8] == b"ftyp" and _bmff_truncated(data):
        raise DecodeError("truncated or corrupt image: file is cut short")
    try:
        return Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
    except UnidentifiedImageError:
        raise DecodeError(_unidentified_reason(data)) from None
    except Image.DecompressionBombError as e:  # only if someone re-set the global limit
        raise DecodeError(f"image too large: {_describe(e)}") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError,
            ZeroDivisionError, OverflowError, RuntimeError) as e:
        raise DecodeError(f"truncated or corrupt image: {_describe(e)}") from None


# Signatures of the formats we read: data that starts like one of them but that Pillow
# cannot identify is a damaged file rather than something else.
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
)


def _bmff_truncated(data: bytes) -> bool:
    """Whether an ISO-BMFF file (HEIF, AVIF) declares top-level boxes beyond its end.

    libheif decodes a cut-off HEIF into a partly grey image without an error, so the
    box structure is checked first: a box (usually 'mdat') longer than the file left
    means the file is truncated.
    """
    pos, n = 0, len(data)
    while pos + 8 <= n:
        size = int.from_bytes(data[pos:pos + 4], "big")
        header = 8
        if size == 1:
            if pos + 16 > n:
                return True
            size = int.from_bytes(data[pos + 8:pos + 16], "big")
            header = 16
        elif size == 0:  # extends to the end of the file
            return False
        if size < header:
            return False  # not a box structure we understand: let libheif judge
        pos += size
    return pos > n


def _unidentified_reason(data: bytes) -> str:
    head = data[:64]
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "truncated or corrupt image: unreadable WEBP header"
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return f"truncated or corrupt image: unreadable {name} header"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1",
                     b"msf1") and pillow_heif is None:
            return "unsupported format (HEIF support is not installed)"
        if brand in (b"avif", b"avis"):
            return "unsupported format (AVIF)"
        return "unsupported format (video or other media file)"
    for magic, name in (
        (b"8BPS", "Photoshop document"), (b"%PDF", "PDF document"),
        (b"%!PS", "PostScript"), (b"\xc5\xd0\xd3\xc6", "PostScript"),
        (b"\xff\x0a", "JPEG XL"), (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
        (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"),
        (b"\x00\x00\x01\x00", "icon"), (b"gimp xcf", "GIMP image"),
        (b"PK\x03\x04", "archive"),
    ):
        if head.startswith(magic):
            return f"unsupported format ({name})"
    text = head.lstrip().lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in data[:4096]):
        return "unsupported format (SVG)"
    return "not an image (unrecognised data)"


_SRGB_TRANSFORMS: dict[tuple[bytes, str], object] = {}
_SRGB_LOCK = threading.Lock()


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    """Convert pixels from their embedded ICC profile to sRGB (what CLIP was trained on
    and what screens assume).  Photos in Adobe RGB, Display P3 or Apple's "Generic RGB"
    otherwise look (and encode) washed out or too dark.  A broken profile is ignored.

    Transforms are cached per profile and built with lcms's NOCACHE flag, which makes
    one transform safe to apply from several decode threads at once.
    """
    from PIL import ImageCms

    key = (hashlib.sha1(icc).digest(), img.mode)
    tr = _SRGB_TRANSFORMS.get(key)
    if tr is None:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            desc = (ImageCms.getProfileDescription(src) or "").lower()
            if "srgb" in desc and img.mode == "RGB":
                tr = False  # already sRGB: nothing to do
            else:
                tr = ImageCms.buildTransform(src, ImageCms.createProfile("sRGB"), img.mode,
                                             "RGB", flags=ImageCms.Flags.NOCACHE)
        except Exception:  # noqa: BLE001 - a broken or unsupported profile
            tr = False
        with _SRGB_LOCK:
            if len(_SRGB_TRANSFORMS) > 64:
                _SRGB_TRANSFORMS.clear()
            _SRGB_TRANSFORMS[key] = tr
    if tr is False:
        return _to_rgb(img)
    try:
        return ImageCms.applyTransform(img, tr)
    except Exception:  # noqa: BLE001
        return _to_rgb(img)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB: alpha composited on white, 16-bit/float scaled to 8 bits."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _high_depth_to_rgb(img)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB", "1") and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        out = Image.new("RGB", rgba.size, _WHITE)
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    if mode == "LAB":
        from PIL import ImageCms  # rare (CIELab TIFF); lazy import

        to_srgb = ImageCms.buildTransform(ImageCms.createProfile("LAB"),
                                          ImageCms.createProfile("sRGB"), "LAB", "RGB")
        return ImageCms.applyTransform(img, to_srgb)
    try:
        return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, HSV, RGBX, ...
    except ValueError:
        raise DecodeError(f"unsupported format (colour mode {mode})") from None


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    arr = np.asarray(img)
    if arr.ndim != 2:  # pragma: no cover - these modes are single-channel
        raise DecodeError(f"unsupported format (colour mode {img.mode})")
    a = arr.astype(np.float32)
    if img.mode == "F":
        finite = np.isfinite(a)
        a = np.where(finite, a, 0.0)
        hi = float(a.max()) if a.size else 0.0
        lo = float(a.min()) if a.size else 0.0
        if lo >= 0.0 and hi <= 1.0:
            a = a * 255.0
        elif hi > lo:
            a = (a - lo) * (255.0 / (hi - lo))
    elif img.mode.startswith("I;16"):
        a = a / 257.0
    else:  # "I": 32-bit ints, usually 16-bit data (PNG) or 8-bit data
        hi = float(a.max()) if a.size else 0.0
        lo = float(a.min()) if a.size else 0.0
        if lo >= 0 and hi <= 255:
            pass
        elif lo >= 0 and hi <= 65535:
            a = a / 257.0
        elif hi > lo:
            a = (a - lo) * (255.0 / (hi - lo))
    gray = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def _orientation_of(img: Image.Image) -> int:
    """The EXIF orientation Pillow would apply (exif_transpose semantics), 1 on any error."""
    try:
        return _md.exif_orientation(img.getexif())
    except Exception:  # noqa: BLE001 - broken EXIF means "no rotation"
        return 1


def _orient(img: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return img.transpose(method) if method is not None else img


def _reduce(img: Image.Image, min_side: int | None) -> Image.Image:
    """Shrink an image much larger than needed so that its shorter side is 2 * min_side.

    Box reduction by an integer factor, then an antialiased bicubic step (Pillow's
    ``reducing_gap``): cheap, and as faithful as resizing the full image (a pure box
    reduction with a remainder shifts the geometry slightly).
    """
    if not min_side:
        return img
    w, h = img.size
    short = min(w, h)
    target = 2 * min_side
    if short < 2 * target:
        return img
    scale = target / short
    size = (max(target, round(w * scale)), max(target, round(h * scale)))
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def _thumb_target(size: tuple[int, int], box: int) -> tuple[int, int]:
    """The size of ``size`` fitted in ``box`` x ``box`` (never enlarged)."""
    w, h = size
    scale = min(1.0, box / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _finish(img: Image.Image, opened: Image.Image | None, orientation: int,
            min_side: int | None) -> Image.Image:
    """sRGB, reduced, oriented; and a plain in-memory image (not tied to the source)."""
    icc = (opened if opened is not None else img).info.get("icc_profile")
    if icc and img.mode in ("RGB", "CMYK"):
        img = _to_srgb(_reduce(img, min_side), icc)
    else:
        img = _reduce(_to_rgb(img), min_side)
    img = _orient(img, orientation)
    if img is opened:  # detach from the decoder object and its input buffer
        img = img.copy()
    return img


def _load_pillow(data: bytes, req: _Request) -> _Out:
    img = _open_pillow(data)
    try:
        stored = img.size
        _check_pixels(stored, req.max_pixels)
        _check_cost(img, data, req)
        if req.min_side is not None:
            img.draft("RGB", (req.min_side, req.min_side))
        elif req.thumb_size is not None:
            tw, th = _thumb_target(stored, req.thumb_size)
            gap = 1 if img.format == "HEIF" else 2  # HEIF: a real thumbnail, no box filter
            img.draft("RGB", (tw * gap, th * gap))
        img.load()
        orientation = _orientation_of(img)
        image = _finish(img, img, orientation, req.min_side)
    except DecodeError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError,
            ZeroDivisionError, OverflowError, RuntimeError, AttributeError) as e:
        raise DecodeError(f"truncated or corrupt image: {_describe(e)}") from None
    w, h = (stored[1], stored[0]) if orientation in _SWAPS_AXES else stored
    meta = _md.empty_metadata()
    if req.want_meta:
        meta = _md.read_metadata(img, req.path, fallback_mtime=req.mtime, size=stored)
    meta["width"], meta["height"] = w, h
    meta["file_type"] = file_type(req.path)
    return _Out(image=image, width=w, height=h, meta=meta)


# -- RAW --------------------------------------------------------------------------------

def _preview_orientation(preview: tuple[int, int], sensor: tuple[int, int],
                         raw_o: int, own_o: int | None) -> int:
    """Orientation to apply to an embedded preview.

    Previews are normally stored like the sensor data (unrotated, e.g. Canon, Nikon,
    Sony) and LibRaw's flip is authoritative; a preview whose aspect shows it was
    already rotated, or a RAW without a flip, falls back to the preview's own EXIF.
    """
    if raw_o != 1:
        pw, ph = preview
        sw, sh = sensor
        already_rotated = raw_o in _SWAPS_AXES and pw != ph and sw != sh and \
            (pw > ph) != (sw > sh)
        if not already_rotated:
            return raw_o
    return own_o or 1


def _raw_error(e: BaseException) -> DecodeError:
    return DecodeError(f"truncated or corrupt RAW file: {_describe(e)}")


def _load_raw(data: bytes, req: _Request) -> _Out | None:
    """Decode a camera RAW with LibRaw; None when LibRaw does not recognise the data."""
    if rawpy is None:  # pragma: no cover - broken install
        raise DecodeError("unsupported format (RAW support is not installed)")
    try:
        raw = rawpy.imread(io.BytesIO(data))
    except rawpy.LibRawFileUnsupportedError:
        return None
    except (rawpy.LibRawError, rawpy.NotSupportedError, OSError, ValueError) as e:
        raise _raw_error(e) from None
    with raw:
        try:
            return _load_raw_opened(raw, data, req)
        except DecodeError:
            raise
        except (rawpy.LibRawError, rawpy.NotSupportedError) as e:
            raise _raw_error(e) from None


def _load_raw_opened(raw, data: bytes, req: _Request) -> _Out:
    """Decode an opened RAW: its embedded preview when big enough, else a half-size
    decode of the sensor data; then its metadata."""
    sizes = raw.sizes
    sensor = (int(sizes.width), int(sizes.height))
    _check_pixels(sensor, req.max_pixels)
    raw_o = _FLIP_TO_EXIF.get(int(sizes.flip), 1)
    ow, oh = (sensor[1], sensor[0]) if raw_o in _SWAPS_AXES else sensor

    image, preview = _raw_preview(raw, sensor, raw_o, _preview_usable(req, ow, oh), req)
    unpacked = False
    if image is None:
        # Half size: each 2x2 Bayer block becomes one pixel, no demosaicing at all.
        # LibRaw applies the flip (orientation) itself.
        rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
        unpacked = True
        image = _finish(Image.fromarray(rgb), None, 1, req.min_side)

    meta = _md.empty_metadata()
    if req.want_meta:
        meta = _raw_metadata(raw, data, preview, req, unpacked)
    meta["width"], meta["height"] = ow, oh
    meta["file_type"] = file_type(req.path)
    meta["orientation"] = raw_o
    return _Out(image=image, width=ow, height=oh, meta=meta)


def _preview_usable(req: _Request, ow: int, oh: int) -> Callable[[int, int], bool]:
    """How big an embedded preview must be to stand in for an ``ow`` x ``oh`` RAW."""
    if req.thumb_size is not None:
        def usable(w: int, h: int) -> bool:
            return max(w, h) >= min(req.thumb_size, max(ow, oh))
    elif req.min_side is not None:
        def usable(w: int, h: int) -> bool:
            return min(w, h) >= min(req.min_side, ow, oh)
    else:
        def usable(w: int, h: int) -> bool:
            return min(w, h) * 4 >= min(ow, oh)
    return usable


def _raw_preview(raw, sensor: tuple[int, int], raw_o: int,
                 usable: Callable[[int, int], bool], req: _Request
                 ) -> tuple[Image.Image | None, Image.Image | None]:
    """``(image, preview)``: the finished image from the RAW's embedded preview (None
    when there is none fit to use) and the opened JPEG preview (None when there is
    none), which is also a metadata source."""
    image: Image.Image | None = None
    preview: Image.Image | None = None
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawError, rawpy.NotSupportedError):
        thumb = None
    if thumb is not None and thumb.format == rawpy.ThumbFormat.JPEG:
        try:
            preview = Image.open(io.BytesIO(thumb.data), formats=("JPEG",))
            if usable(*preview.size) and preview.width * preview.height <= req.max_pixels:
                if req.min_side is not None:
                    preview.draft("RGB", (req.min_side, req.min_side))
                elif req.thumb_size is not None:
                    tw, th = _thumb_target(preview.size, req.thumb_size)
                    preview.draft("RGB", (2 * tw, 2 * th))
                own_o = _md.exif_orientation(_safe_exif(preview))
                stored = preview.size
                preview.load()
                o = _preview_orientation(stored, sensor, raw_o, own_o)
                image = _finish(preview, preview, o, req.min_side)
        except Exception:  # noqa: BLE001 - a broken preview: decode the RAW itself
            image = None
    elif thumb is not None and thumb.format == rawpy.ThumbFormat.BITMAP:
        arr = thumb.data
        if isinstance(arr, np.ndarray) and arr.ndim in (2, 3) and arr.dtype == np.uint8 \
                and usable(arr.shape[1], arr.shape[0]):
            bitmap = Image.fromarray(arr[..., :3] if arr.ndim == 3 else arr)
            o = _preview_orientation(bitmap.size, sensor, raw_o, None)
            image = _finish(bitmap, None, o, req.min_side)
    return image, preview


def _safe_exif(img: Image.Image):
    try:
        return img.getexif()
    except Exception:  # noqa: BLE001
        return {}


_RAW_META_KEYS = ("taken_at", "camera_make", "camera_model", "lens")


def _raw_metadata(raw, data: bytes, preview: Image.Image | None, req: _Request,
                  unpacked: bool) -> dict[str, object]:
    """Metadata of a RAW: the preview's EXIF, then the container's own TIFF tags
    (most RAW formats are TIFF-based), then what LibRaw parsed."""
    meta = _md.empty_metadata()
    sources: list[Image.Image] = []
    if preview is not None:
        sources.append(preview)
    try:
        sources.append(Image.open(io.BytesIO(data), formats=("TIFF",)))
    except Exception:  # noqa: BLE001 - not TIFF-based (CR3, RAF, ORF, RW2, ...)
        pass
    for src in sources:
        try:
            m = _md.read_metadata(src, req.path)
        except Exception:  # noqa: BLE001 - read_metadata should not raise; be sure
            continue
        for key in _RAW_META_KEYS:
            if meta[key] is None and m.get(key) is not None:
                meta[key] = m[key]
        if meta["gps_lat"] is None and m.get("gps_lat") is not None:
            meta["gps_lat"], meta["gps_lon"] = m["gps_lat"], m["gps_lon"]
    if meta["taken_at"] is None or (unpacked and meta["lens"] is None):
        # These properties make LibRaw unpack the sensor data: only when needed.
        try:
            if meta["taken_at"] is None:
                ts = raw.other.timestamp.timestamp()  # local time, like EXIF dates
                if ts > 0:  # 0: LibRaw found no date
                    meta["taken_at"] = ts
            if meta["lens"] is None:
                meta["lens"] = _md.clean_text(raw.lens.model)
        except Exception:  # noqa: BLE001
            pass
    if meta["taken_at"] is None and req.mtime is not None:
        meta["taken_at"] = req.mtime
    return meta
