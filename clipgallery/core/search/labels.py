"""What's in this photo: zero-shot labels from a built-in vocabulary, with the same model.

``top_labels(encoder, photo_vector, k=5, cache_dir=None) -> [(label, probability), ...]``

Each vocabulary entry is a phrase as it would follow "a photo of" ("a dog", "snow",
"a red circle"); the label shown is the phrase without its article ("dog", "snow",
"red circle").  A phrase's text vector is the normalised mean of the prompts
"a photo of {phrase}" and "{phrase}".  The probabilities are CLIP's zero-shot
softmax over the whole vocabulary (cosine x the model's own logit scale), so they
add up to 1 over :data:`VOCABULARY`.

The vocabulary's text vectors are computed once per model and kept in memory; with
``cache_dir`` (e.g. the library's cache folder) they are also saved there as a
``.npy`` file, named by the model id and a digest of the vocabulary, so a new process
does not encode them again.

Threading: pure apart from the in-memory cache, which is guarded by a lock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch and open_clip load only with a model
    from clipgallery.core.models.backends import Encoder

log = logging.getLogger(__name__)

__all__ = ["VOCABULARY", "TEMPLATES", "label_of", "vocabulary_vectors", "top_labels"]

TEMPLATES = ("a photo of {}", "{}")

_EVERYDAY = """
a dog; a puppy; a cat; a kitten; a horse; a cow; a sheep; a goat; a pig; a chicken;
a duck; a bird; a parrot; an owl; an eagle; a seagull; a pigeon; a swan; a fish;
a butterfly; a bee; a spider; a snake; a lizard; a turtle; a frog; a rabbit; a squirrel;
a deer; a fox; a bear; an elephant; a giraffe; a zebra; a lion; a tiger; a monkey;
a camel; a dolphin; a whale; a jellyfish; an insect;
a person; people; a crowd; a man; a woman; a child; a baby; a family; friends;
a couple; a portrait; a selfie; a group photo; a face; hands; a smile;
a wedding; a birthday party; a concert; a festival; a graduation; a parade;
a sports game; a football match; a basketball game; a tennis match; a swimmer;
a runner; a cyclist; a skier; a snowboarder; a surfer; a climber; a hiker;
a dancer; a musician; a guitar; a piano; a drum kit; a violin; a microphone;
a beach; the sea; the ocean; waves; a lake; a river; a waterfall; a pond;
a mountain; mountains; a hill; a valley; a canyon; a cliff; a cave; a volcano;
a desert; sand dunes; a forest; a jungle; trees; a tree; a palm tree; a field;
a meadow; grass; a garden; a park; flowers; a flower; a rose; a sunflower; tulips;
a cactus; leaves; autumn leaves; a vineyard; farmland; an island; a glacier;
snow; ice; rain; fog; clouds; a storm; lightning; a rainbow; a blue sky;
a sunset; a sunrise; the night sky; stars; the moon; the sun; the milky way;
fireworks; a city; a skyline; a street; a road; a highway; a bridge; a tunnel;
a building; a skyscraper; a house; a cottage; a castle; a church; a cathedral;
a temple; a mosque; a tower; a lighthouse; a windmill; a barn; a ruin; a monument;
a statue; a fountain; a square; a market; a shop; a restaurant; a cafe; a bar;
a hotel room; a kitchen; a living room; a bedroom; a bathroom; an office;
a classroom; a library; a museum; a gallery; a stadium; an airport;
a train station; a subway; a harbour; a marina; a playground; a swimming pool;
a car; a sports car; a truck; a bus; a taxi; a motorcycle; a bicycle; a scooter;
a train; a tram; an airplane; a helicopter; a boat; a sailboat; a ship; a canoe;
a hot air balloon; a traffic light; a parking lot;
food; a meal; breakfast; a pizza; a burger; a sandwich; pasta; sushi; a salad;
soup; a steak; bread; a cake; a birthday cake; cookies; ice cream; chocolate;
fruit; an apple; a banana; oranges; strawberries; grapes; vegetables; coffee;
tea; wine; beer; a cocktail; a dinner table; a picnic; a barbecue;
a laptop; a computer; a phone; a screenshot; a television; a camera; a watch;
a book; books; a newspaper; a document; a receipt; a whiteboard; a map; a sign;
a poster; a painting; a drawing; graffiti; a sculpture; a toy; a teddy bear;
a ball; a kite; a balloon; a christmas tree; a snowman; candles; a gift;
a chair; a sofa; a table; a bed; a window; a door; stairs; a lamp; a clock;
a mirror; a plant; a vase; a bottle; a cup; a glass; a bag; shoes; a hat;
glasses; a dress; a suit; a uniform; jewelry;
a tent; camping; a campfire; a boat trip; a road trip; a hike; a ski slope;
an aerial view; a landscape; a cityscape; a seascape; an underwater scene;
a close-up; a macro photo; a black and white photo; a blurry photo; a dark photo;
a night scene; an indoor scene; an outdoor scene; a panorama; a silhouette;
a reflection; a shadow; a pattern; a texture; an abstract image; a logo; text;
a diagram; a chart; a floor plan; an x-ray; a medical scan
"""

# The colours and shapes of the synthetic test photos (tests/synthetic.py); plausible
# photo content in their own right (signs, logos, toys).
_COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "white", "black")
_SHAPES = ("circle", "square", "triangle", "star", "cross", "ring")


def _vocabulary() -> tuple[str, ...]:
    words = [w.strip() for w in _EVERYDAY.replace("\n", " ").split(";")]
    words += [f"a {c} {s}" for c in _COLOURS for s in _SHAPES]
    seen: dict[str, None] = {}
    for w in words:
        if w:
            seen.setdefault(" ".join(w.split()), None)
    return tuple(seen)


VOCABULARY: tuple[str, ...] = _vocabulary()

_ARTICLE = re.compile(r"^(a|an|the)\s+", re.IGNORECASE)


def label_of(phrase: str) -> str:
    """'a red circle' → 'red circle'; 'snow' → 'snow'."""
    return _ARTICLE.sub("", phrase)


_MEMORY: dict[tuple[str, str], np.ndarray] = {}
_LOCK = threading.Lock()


def _digest(vocabulary: Sequence[str]) -> str:
    h = hashlib.sha1("\n".join([*TEMPLATES, "--", *vocabulary]).encode())
    return h.hexdigest()[:12]


def _cache_file(cache_dir: Path, model_id: str, digest: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:60]
    mid = hashlib.sha1(model_id.encode()).hexdigest()[:8]
    return Path(cache_dir) / "labels" / f"{slug}-{mid}-{digest}.npy"


def _encode_batch(encoder: Encoder, prompts: list[str]) -> np.ndarray:
    """Short prompts in batches of 256 (``Encoder.encode_text`` goes one text at a time,
    to split long texts; these never are)."""
    return np.concatenate([encoder.encode_prompts(prompts[i:i + 256])
                           for i in range(0, len(prompts), 256)])


def _encode(encoder: Encoder, vocabulary: Sequence[str]) -> np.ndarray:
    acc = np.zeros((len(vocabulary), encoder.dim), dtype=np.float32)
    for t in TEMPLATES:
        acc += _encode_batch(encoder, [t.format(p) for p in vocabulary])
    acc /= np.maximum(np.linalg.norm(acc, axis=1, keepdims=True), 1e-12)
    return acc.astype(np.float32)


def _save(path: Path, mat: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.save(f, mat)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as e:  # a cache that cannot be written is only slower
        log.info("cannot save label vectors to %s: %s", path, e)


def vocabulary_vectors(encoder: Encoder, vocabulary: Sequence[str] = VOCABULARY, *,
                       cache_dir: str | os.PathLike[str] | None = None) -> np.ndarray:
    """(len(vocabulary), dim) unit text vectors of the vocabulary for this model."""
    digest = _digest(vocabulary)
    key = (encoder.model_id, digest)
    path = _cache_file(Path(cache_dir), encoder.model_id, digest) if cache_dir else None
    with _LOCK:
        mat = _MEMORY.get(key)
    if mat is not None:
        if path is not None and not path.is_file():  # another library's: keep a copy here
            _save(path, mat)
        return mat
    if path is not None and path.is_file():
        try:
            loaded = np.load(path, allow_pickle=False)
            if loaded.shape == (len(vocabulary), encoder.dim):
                mat = loaded.astype(np.float32)
        except (OSError, ValueError) as e:
            log.info("ignoring unreadable label cache %s: %s", path, e)
    if mat is None:
        mat = _encode(encoder, vocabulary)
        if path is not None:
            _save(path, mat)
    with _LOCK:
        _MEMORY[key] = mat
    return mat


def _logit_scale(encoder: Encoder) -> float:
    value = float(encoder.logit_scale)  # torch: the model's; ONNX: recorded at export
    return value if np.isfinite(value) and value > 0 else 100.0


def top_labels(encoder: Encoder, photo_vector: np.ndarray, k: int = 5, *,
               cache_dir: str | os.PathLike[str] | None = None,
               vocabulary: Sequence[str] = VOCABULARY) -> list[tuple[str, float]]:
    """The ``k`` most likely labels of a photo, with their zero-shot probabilities."""
    mat = vocabulary_vectors(encoder, vocabulary, cache_dir=cache_dir)
    v = np.asarray(photo_vector, dtype=np.float32)
    v = v / max(float(np.linalg.norm(v)), 1e-12)
    logits = (mat @ v) * _logit_scale(encoder)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    top = np.argsort(-p, kind="stable")[:max(0, k)]
    return [(label_of(vocabulary[i]), float(p[i])) for i in top]
