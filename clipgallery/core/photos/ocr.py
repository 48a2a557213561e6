"""Reading text in photos: PP-OCRv4 (RapidOCR on ONNX Runtime), gated and at reduced size.

The models ship inside the ``rapidocr-onnxruntime`` wheel (Apache-2.0; detection,
direction classifier and recognition, about 16 MB); nothing is downloaded.  The engine
is loaded on first use (about a second) and reused.

Cost is what matters: most photos hold no text, so :meth:`TextReader.read` spends as
little as it can on them:

1. images that are tiny (longest side under 32 px) or flat (no contrast) are not read;
2. **gate**: the text *detector* alone runs on a copy whose longest side is
   :data:`GATE_SIDE` (320 px: about 24 ms of one core on the development machine; 480 px
   costs 52 ms and finds text half as large).  No box, no text: recognition and the
   classifier never run;
3. only where the gate found text-like regions is the photo read in full: detection
   again at up to :data:`READ_SIDE` (960 px, from a larger decode when the caller can
   give one), then the classifier and recognition on each box.  Lines under
   :data:`MIN_CONFIDENCE` are dropped.

Text whose letters are smaller than about 1/50 of the photo's longest side is not found
(measured: a font of 2 % of the longest side is, 1.8 % is not; at a 480-px gate 1.25 %);
signs, shirts, pages and captions are.

Boxes are returned axis-aligned, relative to the image given (0..1), which is the
original photo's orientation (decoding applies EXIF orientation), so they hold for
the photo at any size.

Threading: a :class:`TextReader` is used by one thread at a time (the OCR pass's).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import numpy as np
from PIL import Image

__all__ = ["GATE_SIDE", "READ_SIDE", "MIN_CONFIDENCE", "Line", "TextReader", "available",
           "reduce_to"]

log = logging.getLogger(__name__)

#: Longest side of the copy the detector gates on (``CLIPGALLERY_OCR_GATE`` overrides it,
#: for measuring).
GATE_SIDE = int(os.environ.get("CLIPGALLERY_OCR_GATE") or 320)
#: Longest side at which a photo with text is read.
READ_SIDE = 960
#: Recognised lines below this confidence are dropped.
MIN_CONFIDENCE = 0.6
# Detection's box score threshold (RapidOCR's default 0.5): a little stricter, so that
# texture (foliage, gravel) passes the gate less often.
_BOX_THRESH = 0.6
_MIN_SIDE = 32
_FLAT_STD = 3.0

Line = tuple[str, tuple[float, float, float, float], float]  # text, box, confidence


def available() -> bool:
    """Whether the OCR engine is installed."""
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def reduce_to(img: Image.Image, side: int) -> Image.Image:
    """``img`` with its longest side at most ``side`` (never enlarged), RGB."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    if max(img.size) <= side:
        return img
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _bgr(img: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(img.convert("RGB"))[:, :, ::-1])


class TextReader:
    """Finds and reads text lines in an image (see the module docstring)."""

    def __init__(self, threads: int = 1) -> None:
        # One thread per ONNX Runtime call: the gate runs in several threads at once
        # (one per core, see indexing.ocr_pass), which uses the cores better than
        # splitting one small image's inference over them.
        self.threads = max(1, threads)
        self._engine = None
        self._lock = threading.Lock()
        self._full = threading.Lock()  # full reads: RapidOCR keeps per-call state
        self.gated = 0  # photos the gate stopped (statistics for the benchmark)
        self.read_full = 0

    def _get(self):
        with self._lock:
            if self._engine is None:
                from rapidocr_onnxruntime import RapidOCR

                logging.getLogger("RapidOCR").setLevel(logging.WARNING)
                self._engine = RapidOCR(
                    det_limit_type="max", det_box_thresh=_BOX_THRESH,
                    intra_op_num_threads=self.threads, inter_op_num_threads=1,
                    text_score=MIN_CONFIDENCE, print_verbose=False)
            return self._engine

    def warm_up(self) -> None:
        """Load the models now (else on the first read)."""
        self._get()

    def has_text(self, image: Image.Image) -> bool:
        """The gate: does the detector find any text-like region at :data:`GATE_SIDE`?

        Thread-safe (the detector's session is shared; its per-call settings are the
        same for every image this size)."""
        if min(image.size) < 8 or max(image.size) < _MIN_SIDE:
            return False
        small = reduce_to(image, GATE_SIDE)
        gray = np.asarray(small.convert("L"), dtype=np.float32)
        if float(gray.std()) < _FLAT_STD:
            return False
        boxes, _ = self._get().text_det(_bgr(small))
        return boxes is not None and len(boxes) > 0

    def read(self, image: Image.Image,
             larger: Callable[[], Image.Image | None] | None = None, *,
             gate: bool | None = None) -> list[Line]:
        """Text lines in ``image``, top to bottom: ``(text, (x0, y0, x1, y1), conf)``.

        ``larger``, when given, is asked for a bigger copy of the same photo only once
        the gate found text (the caller decodes it then; None: use ``image``).
        ``gate``: :meth:`has_text`'s answer when the caller already asked it.
        """
        if not (self.has_text(image) if gate is None else gate):
            self.gated += 1
            return []
        with self._full:
            self.read_full += 1
            return self._read_full(image, larger)

    def _read_full(self, image: Image.Image,
                   larger: Callable[[], Image.Image | None] | None) -> list[Line]:
        big = None
        if larger is not None and max(image.size) < READ_SIDE:
            try:
                big = larger()
            except Exception:  # noqa: BLE001 - a failed re-decode: read what we have
                log.debug("larger copy failed", exc_info=True)
        big = reduce_to(big if big is not None else image, READ_SIDE)
        result, _ = self._get()(_bgr(big))
        return self._lines(result or [], big.size)

    @staticmethod
    def _lines(result: list, size: tuple[int, int]) -> list[Line]:
        w, h = size
        out: list[Line] = []
        for pts, text, conf in result:
            text = " ".join(str(text).split())
            if not text or float(conf) < MIN_CONFIDENCE:
                continue
            xs = [float(p[0]) for p in pts]
            ys = [float(p[1]) for p in pts]
            box = (max(0.0, min(xs) / w), max(0.0, min(ys) / h),
                   min(1.0, max(xs) / w), min(1.0, max(ys) / h))
            out.append((text, box, round(float(conf), 4)))
        out.sort(key=lambda ln: (round(ln[1][1], 2), ln[1][0]))
        return out
