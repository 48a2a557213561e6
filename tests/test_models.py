"""Models: import through the user's command, refusals, offline, switching, long text."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from clipgallery.core.indexing.indexer import Indexer
from clipgallery.core.models.torch_backend import load_encoder
from clipgallery.core.search.searcher import Searcher
from clipgallery.core.store.library import Library
from tests import synthetic


def random_variant(src: Path, dst: Path, seed: int) -> Path:
    """The tiny model's architecture with other (random) weights: another model id."""
    import open_clip
    from safetensors.torch import save_file

    cfg = json.loads((src / "open_clip_config.json").read_text())
    torch.manual_seed(seed)
    model = open_clip.CLIP(**cfg["model_cfg"])
    dst.mkdir(parents=True)
    (dst / "open_clip_config.json").write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(dst / "open_clip_model.safetensors"))
    return dst


def snapshot(library: Path) -> dict[str, bytes]:
    return {str(p.relative_to(library)): p.read_bytes()
            for p in sorted(library.rglob("*")) if p.is_file() and p.suffix != ".lock"
            and not p.name.endswith(("-wal", "-shm"))}


def test_import_tiny_model_with_the_users_command(cli, tiny_model, library_dir, tmp_path):
    out = cli.json("model", "import", tiny_model, "--library", library_dir)
    stored = Path(out["spec"])
    assert stored.parent == library_dir / "models" and stored.is_dir()
    # Same content, same id: vectors made with tests/data/tiny-clip stay valid.
    assert out["model_id"] == load_encoder(tiny_model).model_id
    listed = cli.json("model", "list", "--library", library_dir)
    assert [m["model_id"] for m in listed["installed"]] == [out["model_id"]]
    assert {m["role"] for m in listed["curated"]} == {"default", "faster", "stronger",
                                                      "multilingual"}

    # A bare checkpoint file with its architecture given as a config file.
    cfg = Path(tiny_model) / "open_clip_config.json"
    weights = Path(tiny_model) / "open_clip_model.safetensors"
    out2 = cli.json("model", "import", weights, "--arch", cfg, "--name", "tiny2",
                    "--library", library_dir)
    assert out2["spec"].endswith("tiny2")
    folder = tmp_path / "photos"
    synthetic.make_folder(folder, 12, seed=3)
    s = cli.json("index", folder, "--library", library_dir, "--model", out2["spec"])
    assert s["indexed"] == 12

    # A .pt state dict is read with weights_only=True.
    sd = load_encoder(tiny_model).model.state_dict()
    torch.save(sd, tmp_path / "tiny.pt")
    assert cli.json("model", "import", tmp_path / "tiny.pt", "--arch", cfg, "--name", "tiny3",
                    "--library", library_dir)["spec"].endswith("tiny3")


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("kind", ["garbage", "truncated", "mismatch", "pickle", "unknown-arch",
                                  "wrong-suffix"])
def test_bad_model_files_are_refused_and_library_untouched(cli, tiny_model, library_dir,
                                                           tmp_path, kind):
    folder = tmp_path / "photos"
    synthetic.make_folder(folder, 4, seed=1)
    cli.json("index", folder, "--library", library_dir, "--model", tiny_model)
    before = snapshot(library_dir)
    cfg = str(Path(tiny_model) / "open_clip_config.json")
    weights = Path(tiny_model) / "open_clip_model.safetensors"
    arch = cfg
    if kind == "garbage":
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"\x00" * 1000)
    elif kind == "truncated":
        bad = tmp_path / "half.safetensors"
        bad.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif kind == "mismatch":
        bad = weights
        arch = "ViT-B-32"
    elif kind == "pickle":
        bad = tmp_path / "evil.pt"
        torch.save({"x": Evil()}, bad)
    elif kind == "unknown-arch":
        bad = weights
        arch = "No-Such-Model"
    else:
        bad = tmp_path / "model.onnx"
        bad.write_bytes(b"onnx?")
    code, out, err = cli("model", "import", bad, "--arch", arch, "--library", library_dir)
    assert code == 2 and err.startswith("clipgallery: ") and "Traceback" not in err
    assert "pwned" not in out
    assert snapshot(library_dir) == before
    assert not list((library_dir / "models").glob("*"))


@pytest.mark.network_probe
def test_offline_download_is_refused_quickly(cli, library_dir, _no_network):
    t = time.monotonic()
    code, out, err = cli("model", "download", "ViT-B-32-256:datacomp_s34b_b86k",
                         "--library", library_dir)
    assert code == 2 and time.monotonic() - t < 10
    assert "offline" in err and "model import" in err
    # The only attempt was the reachability check of the hub, for this download.
    assert _no_network and all("huggingface.co" in a for a in _no_network)


def test_switching_models_keeps_search_answering(tmp_path, tiny_model, library_dir):
    folder = tmp_path / "photos"
    synthetic.make_folder(folder, 80, seed=11)
    other = random_variant(Path(tiny_model), tmp_path / "other-model", seed=5)
    with Library.open(library_dir, write=True) as lib:
        enc_a = lib.load_encoder(tiny_model)
        lib.switch_model(tiny_model)
        Indexer(lib.catalog, lib.index_for(enc_a), enc_a).run([folder])
        lib.activate_model(enc_a, tiny_model)

        lib.switch_model(str(other))
        assert lib.search_spec() == tiny_model and lib.model_spec() == str(other)
        enc_b = lib.load_encoder()
        assert enc_b.model_id != enc_a.model_id
        searcher = Searcher(lib.catalog, lib.index_for(enc_a), enc_a)
        want = [r.photo.id for r in searcher.search_text("a red circle", 20)]
        errors: list[BaseException] = []
        answers = []
        done = threading.Event()

        def search_all_the_time():
            try:
                while not done.is_set():
                    got = [r.photo.id for r in searcher.search_text("a red circle", 20)]
                    answers.append(got)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=search_all_the_time)
        t.start()
        try:
            s = Indexer(lib.catalog, lib.index_for(enc_b), enc_b, batch_size=8).run([folder])
        finally:
            done.set()
            t.join()
        lib.activate_model(enc_b, str(other))
        assert not errors and len(answers) > 3
        assert all(a == want for a in answers)  # old vectors answered all along
        assert s.indexed == 80
        assert lib.catalog.model_id == enc_b.model_id and lib.search_spec() == str(other)
        assert lib.catalog.indexed_count(enc_b.model_id) == 80
        assert len(lib.index_for(enc_b)) == 80


def test_long_queries_are_split_not_cut(tiny_model):
    enc = load_encoder(tiny_model)
    filler = "a photo with many things in it " * 12
    long_text = filler.strip() + ". a red circle."
    parts = enc.split_long_text(long_text)
    assert len(parts) >= 2 and parts[-1] == "a red circle."
    assert all(enc.token_count(p) <= enc.context_length - 2 for p in parts)
    v = enc.encode_text([long_text])[0]
    # Truncation would drop the last sentence entirely; the combined vector keeps it.
    part_vecs = enc.encode_text(parts)
    mean = part_vecs.mean(0)
    assert np.allclose(v, mean / np.linalg.norm(mean), atol=1e-5)
    assert len(enc.split_long_text("a red circle")) == 1
