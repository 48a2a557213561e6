"""Shared fixtures: every test runs on a temporary library, offline, headless."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
TINY_CLIP = TESTS / "data" / "tiny-clip"
CORPUS = (ROOT.parent / "shared" / "corpus").resolve()

if str(TESTS.parent) not in sys.path:
    sys.path.insert(0, str(TESTS.parent))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """No test may touch the user's real library, caches or settings."""
    home = tmp_path_factory.mktemp("clipgallery-home")
    monkeypatch.setenv("CLIPGALLERY_HOME", str(home))
    monkeypatch.delenv("CLIPGALLERY_MODEL", raising=False)
    yield home


@pytest.fixture
def tiny_model() -> str:
    assert (TINY_CLIP / "open_clip_config.json").is_file(), "tests/data/tiny-clip is missing"
    return str(TINY_CLIP)


@pytest.fixture
def library_dir(tmp_path) -> Path:
    return tmp_path / "library"


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture
def cli(capsys):
    """Run the real CLI in-process; returns (exit code, stdout, stderr)."""
    from clipgallery.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    def run_json(*args: str):
        code, out, err = run(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    run.json = run_json
    return run
