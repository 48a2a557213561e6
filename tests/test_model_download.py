"""Model downloads against a model hub served on 127.0.0.1 (tests/fake_hub.py).

The suite's network guard (tests/conftest.py) lets loopback connections through and
fails a test on any other, so these tests prove the download code talks only to the
endpoint it was given.  The hub serves the tiny test CLIP as ``clipgallery-test/tiny-clip``.
"""

from __future__ import annotations

import threading

import pytest

from clipgallery.core.models import model_store as models
from clipgallery.core.models.torch_backend import ModelUnavailable, load_encoder
from tests.conftest import TINY_CLIP
from tests.fake_hub import FakeHub

REPO = "clipgallery-test/tiny-clip"
SPEC = f"hf-hub:{REPO}"
WEIGHTS = TINY_CLIP / "open_clip_model.safetensors"


@pytest.fixture
def hub(monkeypatch):
    with FakeHub() as h:
        h.add_folder(REPO, TINY_CLIP)
        monkeypatch.setenv("CLIPGALLERY_HUB_ENDPOINT", h.endpoint)
        yield h


def _weights_mb() -> float:
    """The tiny CLIP's weights file, in MB, as the download progress shows it."""
    return (TINY_CLIP / "open_clip_model.safetensors").stat().st_size / 1e6


def test_cli_download_shows_progress_and_installs_a_loadable_model(cli, hub, library_dir):
    hub.delay = 0.005  # 9 MB in 140 pieces: long enough for several progress lines
    code, out, err = cli("model", "download", SPEC, "--library", library_dir)
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if ln.startswith(f"Downloading {SPEC}")]
    assert len(lines) >= 3 and lines[-1].endswith("(100 %)"), err
    assert f" of {_weights_mb():.1f} MB" in lines[-1]
    installed = library_dir / "models" / "clipgallery-test--tiny-clip"
    assert f"model use {installed}" in out
    assert (installed / "open_clip_model.safetensors").read_bytes() == WEIGHTS.read_bytes()
    # Loadable through the app's own code path, and it is the tiny model.
    enc = load_encoder(str(installed), device="cpu")
    ref = load_encoder(str(TINY_CLIP), device="cpu")
    assert (enc.encode_text(["a red circle"]) == ref.encode_text(["a red circle"])).all()
    listed = cli.json("model", "list", "--library", library_dir)
    assert [m["path"] for m in listed["installed"]] == [str(installed)]
    # The weights came through the hub's redirect to its file store, whole.
    assert [h.get("Range") for h in hub.gets("/lfs/")] == [None]
    # Asked again: already there, nothing fetched.
    n = len(hub.requests)
    assert cli("model", "download", SPEC, "--library", library_dir)[0] == 0
    assert len(hub.requests) == n
    assert cli("model", "use", installed, "--library", library_dir)[0] == 0


def test_interrupted_download_resumes_with_a_range_request(cli, hub, library_dir):
    half = WEIGHTS.stat().st_size // 2
    hub.drop_after = half
    code, out, err = cli("model", "download", SPEC, "--library", library_dir)
    assert code == 2 and "interrupted" in err and "resume" in err, err
    part = library_dir / "models" / ".download-clipgallery-test--tiny-clip" / \
        "open_clip_model.safetensors.part"
    assert part.stat().st_size == half
    assert models.installed(library_dir / "models") == []
    assert not (library_dir / "models" / "clipgallery-test--tiny-clip").exists()

    hub.drop_after = None
    code, out, err = cli("model", "download", SPEC, "--library", library_dir)
    assert code == 0, err
    assert f"Resuming at {half / 1e6:.1f} MB" in err
    ranges = [h.get("Range") for h in hub.gets("/lfs/")]
    assert ranges == [None, f"bytes={half}-"]  # the second try asked only for the rest
    installed = library_dir / "models" / "clipgallery-test--tiny-clip"
    assert (installed / "open_clip_model.safetensors").read_bytes() == WEIGHTS.read_bytes()
    assert not part.parent.exists()
    load_encoder(str(installed), device="cpu")


def test_corrupt_resume_is_caught_by_the_checksum(hub, library_dir):
    """A partial file that does not match the hub's sha256 is thrown away, not installed."""
    store = library_dir / "models"
    staging = store / ".download-clipgallery-test--tiny-clip"
    staging.mkdir(parents=True)
    (staging / "open_clip_config.json").write_bytes((TINY_CLIP / "open_clip_config.json")
                                                    .read_bytes())
    (staging / "open_clip_model.safetensors.part").write_bytes(b"\xff" * 1000)
    with pytest.raises(ModelUnavailable, match="corrupt"):
        models.download(SPEC, store / "hub", store=store)
    assert hub.gets("/lfs/")[-1].get("Range") == "bytes=1000-"
    assert models.installed(store) == []
    # The next try starts from scratch and succeeds.
    path = models.download(SPEC, store / "hub", store=store)
    assert (path / "open_clip_model.safetensors").read_bytes() == WEIGHTS.read_bytes()


def test_cancel_leaves_no_half_installed_model(hub, library_dir):
    store = library_dir / "models"
    cancel = threading.Event()
    seen: list[models.DownloadProgress] = []

    def progress(p: models.DownloadProgress) -> None:
        seen.append(p)
        if p.file == "open_clip_model.safetensors" and p.done > 0:
            cancel.set()

    hub.delay = 0.01
    with pytest.raises(models.DownloadCancelled):
        models.download(SPEC, store / "hub", progress, cancel, store=store)
    assert seen and seen[-1].total is not None and seen[-1].done < seen[-1].total
    assert models.installed(store) == []
    assert [p.name for p in store.iterdir()] == [".download-clipgallery-test--tiny-clip"]
    with pytest.raises(ModelUnavailable):
        load_encoder(str(store / "clipgallery-test--tiny-clip"), device="cpu")


def test_curated_weights_land_where_the_library_finds_them(hub, library_dir):
    """NAME:PRETRAINED: open_clip's hub repository; a missing .safetensors falls back
    to the .bin, and `model list` shows the file as downloaded."""
    import open_clip

    spec = "ViT-B-32:laion2b_s34b_b79k"
    repo = "/".join(open_clip.get_pretrained_cfg("ViT-B-32", "laion2b_s34b_b79k")["hf_hub"]
                    .strip("/").split("/")[:2])
    blob = bytes(range(256)) * 1024
    hub.files[f"{repo}/open_clip_pytorch_model.bin"] = blob
    store = library_dir / "models"
    got = models.download(spec, store / "hub", store=store)
    assert got.read_bytes() == blob and got.name == "open_clip_pytorch_model.bin"
    asked = [q for m, q, _ in hub.requests if m == "GET" and "/resolve/" in q]
    assert [q.rsplit("/", 1)[1] for q in asked] == ["open_clip_model.safetensors",
                                                    "open_clip_pytorch_model.bin"]
    inst = models.installed(store)
    assert [(m.spec, m.kind, m.path) for m in inst] == [(spec, "downloaded", str(got))]


def test_missing_repository_is_a_clear_error(hub, cli, library_dir):
    code, out, err = cli("model", "download", "hf-hub:nobody/nothing", "--library", library_dir)
    assert code == 2 and "has no file" in err and "Traceback" not in err
    assert models.installed(library_dir / "models") == []
