"""Shared fixtures: every test runs on a temporary library, offline, headless."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
# The text pass (OCR) is off for the suite's many small libraries (it would load the
# OCR models in every indexing run); tests/test_ocr.py turns it on, and the CLI-exit
# tests run the CLI without any CLIPGALLERY_ variable, so with it.
os.environ.setdefault("CLIPGALLERY_OCR", "0")

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
TINY_CLIP = Path(os.environ.get("CLIPGALLERY_TEST_TINY_MODEL") or TESTS / "data" / "tiny-clip")
CORPUS = Path(os.environ.get("CLIPGALLERY_TEST_CORPUS")
              or ROOT.parent / "shared" / "corpus").resolve()

if str(TESTS.parent) not in sys.path:
    sys.path.insert(0, str(TESTS.parent))


_LOCAL_PREFIXES = ("127.", "::1", "0.0.0.0", "localhost")
NETWORK_ATTEMPTS: list[str] = []


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = str(address[0]) if address else ""
    return host.startswith(_LOCAL_PREFIXES) or host == ""


@pytest.fixture(autouse=True)
def _no_network(request, monkeypatch):
    """Privacy promise: nothing in ClipGallery reaches the network on its own.

    Every test runs with outbound connections blocked and recorded; a test fails if
    any was attempted, unless it is marked ``network_probe`` (the explicit "is the
    model hub reachable?" check that precedes a download the user asked for).
    """
    import socket

    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guard(address):
        if not _is_local(address):
            attempts.append(repr(address))
            raise OSError(101, f"network blocked by the test-suite: {address!r}")

    def connect(self, address):
        guard(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        guard(address)
        return real_connect_ex(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *a, **k):
        if host is not None and not _is_local((host,)):
            attempts.append(f"dns:{host}")
            raise socket.gaierror(-3, f"DNS blocked by the test-suite: {host}")
        return real_getaddrinfo(host, *a, **k)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    if attempts and request.node.get_closest_marker("network_probe") is None:
        pytest.fail(f"unexpected network access: {attempts}")


@pytest.fixture(scope="session", autouse=True)
def _shared_onnx_cache(tmp_path_factory):
    """Export each test model to ONNX once per test session, not once per library."""
    os.environ["CLIPGALLERY_ONNX_CACHE"] = str(tmp_path_factory.mktemp("onnx-cache"))
    yield


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
