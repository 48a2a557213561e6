"""CLIP's byte-level BPE tokenizer, without torch.

The same algorithm as OpenAI CLIP's ``SimpleTokenizer`` (MIT License, Copyright (c) 2021
OpenAI), as open_clip ships it, returning numpy arrays instead of torch tensors: a text
query through an ONNX export then needs neither torch nor open_clip (seconds of import
saved on every start).  :mod:`onnx_export` uses it only for models whose open_clip
tokenizer is a plain ``SimpleTokenizer``, after checking at export that both give the
same tokens; every other tokenizer stays open_clip's.

Thread-safe for encoding: the BPE cache is a dict whose entries are written whole.
"""

from __future__ import annotations

import gzip
import html
import string
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
CLEAN_KINDS = ("lower", "whitespace", "canonicalize")
_SOT, _EOT = "<start_of_text>", "<end_of_text>"


@lru_cache
def _bytes_to_unicode() -> dict[int, str]:
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def _pairs(word: tuple[str, ...]) -> set[tuple[str, str]]:
    return set(zip(word, word[1:], strict=False))


def _basic_clean(text: str) -> str:
    import ftfy

    return html.unescape(html.unescape(ftfy.fix_text(text))).strip()


def _clean(kind: str, text: str) -> str:
    text = _basic_clean(text)
    if kind == "canonicalize":
        text = text.replace("_", " ").translate(str.maketrans("", "", string.punctuation))
        return " ".join(text.lower().split()).strip()
    text = " ".join(text.split()).strip()
    return text.lower() if kind == "lower" else text


class ClipTokenizer:
    """``tokenizer(texts) -> int64 array (len(texts), context_length)``, and ``encode``."""

    def __init__(self, vocab: Path, context_length: int = 77, clean: str = "lower") -> None:
        import regex

        if clean not in CLEAN_KINDS:
            raise ValueError(f"unknown text cleaning {clean!r}")
        self.clean = clean
        self.context_length = int(context_length)
        self.byte_encoder = _bytes_to_unicode()
        merges = gzip.open(vocab).read().decode("utf-8").split("\n")
        merges = [tuple(m.split()) for m in merges[1:49152 - 256 - 2 + 1]]
        words = list(self.byte_encoder.values())
        words = words + [v + "</w>" for v in words] + ["".join(m) for m in merges]
        words += [_SOT, _EOT]
        self.encoder = {w: i for i, w in enumerate(words)}
        self.bpe_ranks = {m: i for i, m in enumerate(merges)}
        self.cache = {_SOT: _SOT, _EOT: _EOT}
        self.pat = regex.compile(
            rf"{_SOT}|{_EOT}|'s|'t|'re|'ve|'m|'ll|'d|[\p{{L}}]+|[\p{{N}}]|[^\s\p{{L}}\p{{N}}]+",
            regex.IGNORECASE)
        self.sot_token_id, self.eot_token_id = self.encoder[_SOT], self.encoder[_EOT]

    def bpe(self, token: str) -> str:
        cached = self.cache.get(token)
        if cached is not None:
            return cached
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = _pairs(word)
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new: list[str] = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new.extend(word[i:])
                    break
                new.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new.append(first + second)
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = tuple(new)
            if len(word) == 1:
                break
            pairs = _pairs(word)
        out = " ".join(word)
        self.cache[token] = out
        return out

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for token in self.pat.findall(_clean(self.clean, text)):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return ids

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None
                 ) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        n = context_length or self.context_length
        out = np.zeros((len(texts), n), dtype=np.int64)
        for i, text in enumerate(texts):
            tokens = [self.sot_token_id, *self.encode(text), self.eot_token_id]
            if len(tokens) > n:
                tokens = tokens[:n]
                tokens[-1] = self.eot_token_id
            out[i, :len(tokens)] = tokens
        return out


def describe(tokenizer: object) -> dict[str, object] | None:
    """What :class:`ClipTokenizer` needs to stand in for open_clip's ``tokenizer``, or
    None when it cannot (another kind of tokenizer, extra special tokens, a reduction)."""
    if type(tokenizer).__name__ != "SimpleTokenizer":
        return None
    if getattr(tokenizer, "reduction_fn", None) is not None:
        return None
    if len(getattr(tokenizer, "all_special_ids", [])) != 2:
        return None
    clean = getattr(getattr(tokenizer, "clean_fn", None), "__name__", "")
    kind = clean.removeprefix("_clean_")
    if kind not in CLEAN_KINDS:
        return None
    return {"kind": "clip-bpe", "clean": kind,
            "context_length": int(getattr(tokenizer, "context_length", 77) or 77)}
