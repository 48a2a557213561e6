"""The torch-free CLIP tokenizer gives open_clip's tokens, exactly."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
from open_clip.tokenizer import default_bpe

from clipgallery.core.models.tokenizer import ClipTokenizer, describe
from clipgallery.core.search.labels import TEMPLATES, VOCABULARY
from tests.conftest import TINY_CLIP

ODD = ["", " ", "naïve café déjà vu", "日本語のテキスト", "emoji 🐕🐈 and &amp; &lt;b&gt;",
       "it's what's they'll we've I'm he'd", "A DOG!!  on   a\tchair\n", "snake_case_words",
       "3.14159 and 42nd street", "word " * 120, "x" * 400, "Ünïcödé ß ﬁ ligature",
       "¡¿punctuation?! — “quotes” ‘single’", "mixed日本English混合"]


@pytest.mark.parametrize("clean", ["lower", "whitespace", "canonicalize"])
def test_same_tokens_as_open_clip(clean):
    ref = open_clip.tokenizer.SimpleTokenizer(clean=clean)
    ours = ClipTokenizer(default_bpe(), clean=clean)
    texts = [t.format(v) for v in VOCABULARY for t in TEMPLATES] + ODD
    got, want = ours(texts), ref(texts).numpy()
    assert got.dtype == np.int64 and got.shape == want.shape == (len(texts), 77)
    assert np.array_equal(got, want)
    for t in ODD:
        assert ours.encode(t) == ref.encode(t)
    assert np.array_equal(ours("one", context_length=16), ref("one", context_length=16).numpy())


def test_describe_only_plain_simple_tokenizers():
    tiny = open_clip.get_tokenizer(f"local-dir:{TINY_CLIP}")
    assert describe(tiny) == {"kind": "clip-bpe", "clean": "lower",
                              "context_length": tiny.context_length}
    assert describe(object()) is None
    masked = open_clip.tokenizer.SimpleTokenizer(reduction_mask="simple")
    assert describe(masked) is None
    extra = open_clip.tokenizer.SimpleTokenizer(additional_special_tokens=["<x>"])
    assert describe(extra) is None
