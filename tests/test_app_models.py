"""The app's model management: File ▸ Models… and File ▸ Import Model File…, driven for real.

Imports go through the menu action, the import dialog (its file pickers answered by a
patched QFileDialog) and a model job thread into the library's model store; "Use This
Model" goes to the indexing worker, which re-encodes in the background.  Downloads run
against a model hub on 127.0.0.1 (tests/fake_hub.py).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from clipgallery.core.models import model_store as models
from clipgallery.core.store.catalog import Catalog
from tests import conftest_app as fixtures
from tests.conftest import TINY_CLIP
from tests.conftest_app import SPECS, wait_settled
from tests.fake_hub import FakeHub
from tests.synthetic import make_folder
from tests.test_models import random_variant

app_model = fixtures.app_model
core_imported = fixtures.core_imported
make_window = fixtures.make_window


def _weights_mb() -> float:
    """The tiny CLIP's weights file, in MB, as the download progress shows it."""
    return (TINY_CLIP / "open_clip_model.safetensors").stat().st_size / 1e6


def _meta(library: Path, key: str) -> str | None:
    with Catalog(library / "catalog.sqlite3") as reader:
        return reader.get_meta(key)


def _indexed_window(qtbot, tmp_path, make_window, n: int = 24):
    photos = tmp_path / "photos"
    make_folder(photos, n, 7, specs=SPECS)
    w = make_window(folders=[str(photos)])
    wait_settled(qtbot, w)
    assert w.searchable == n
    return w


def _answer_file_dialogs(monkeypatch, answers: dict[str, Path]) -> None:
    """QFileDialog.getOpenFileName answers by caption, as a user picking files would."""
    def pick(_parent, caption, *_a, **_k):
        for key, path in answers.items():
            if key in caption:
                return os.fsdecode(path), ""
        raise AssertionError(f"unexpected file dialog {caption!r}")

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(pick))


def test_import_a_model_file_from_the_menu_and_switch_to_it(qtbot, tmp_path, make_window,
                                                            monkeypatch):
    w = _indexed_window(qtbot, tmp_path, make_window)
    library = tmp_path / "library"
    first_id = _meta(library, "model_id")
    other = random_variant(TINY_CLIP, tmp_path / "other", seed=9)
    weights = tmp_path / "usb" / "weights.safetensors"
    weights.parent.mkdir()
    (other / "open_clip_model.safetensors").rename(weights)
    _answer_file_dialogs(monkeypatch, {"Model File": weights,
                                       "Config": other / "open_clip_config.json"})

    w.act_import_model.trigger()
    md = w.models_dialog
    assert md is not None and md.isVisible()
    imp = md.import_dialog
    assert imp is not None and imp.isVisible()
    qtbot.waitUntil(lambda: md.loads >= 1, timeout=60_000)
    assert imp.arch_combo.currentText() == "ViT-B-32-256"  # curated architectures first
    curated = {c.spec for c in models.CURATED}
    assert curated <= {spec for spec, _ in md.rows()}
    assert "not downloaded" in dict(md.rows()).values()
    imp.file_button.click()
    imp.config_button.click()
    assert imp.source_edit.text() == os.fsdecode(weights)
    imp.name_edit.setText("other model")
    imp.import_button.click()
    qtbot.waitUntil(lambda: imp.result is not None or imp.error != "", timeout=120_000)
    assert imp.error == "" and not imp.isVisible()
    spec, model_id = imp.result
    assert Path(spec) == library / "models" / "other_model"
    qtbot.waitUntil(lambda: dict(md.rows()).get(spec) == "installed", timeout=60_000)
    assert md.selected_spec() == spec and md.use_button.isEnabled()

    # "Use This Model": the worker re-encodes every photo; search answers all along.
    runs = w.worker.runs
    md.use_button.click()
    qtbot.waitUntil(lambda: w.worker.runs > runs and _meta(library, "model_id") == model_id,
                    timeout=180_000)
    assert first_id != model_id
    assert _meta(library, "model_spec") == spec and _meta(library, "next_model_spec") is None
    with Catalog(library / "catalog.sqlite3") as reader:
        assert reader.indexed_count(model_id) == 24
    qtbot.waitUntil(lambda: w.model_label.startswith("other_model"), timeout=30_000)
    qtbot.waitUntil(lambda: dict(md.rows()).get(spec) == "in use", timeout=60_000)
    wait_settled(qtbot, w)
    assert w.searchable == 24


@pytest.mark.parametrize("kind", ["garbage", "wrong-architecture"])
def test_a_bad_model_file_shows_an_error_and_leaves_the_library_untouched(
        qtbot, tmp_path, make_window, kind):
    w = _indexed_window(qtbot, tmp_path, make_window, n=8)
    library = tmp_path / "library"
    before = (_meta(library, "model_id"), _meta(library, "model_spec"))
    if kind == "garbage":
        bad = tmp_path / "broken.safetensors"
        bad.write_bytes(b"\x00" * 4096)
        arch = str(TINY_CLIP / "open_clip_config.json")
        expect = "not a readable model file"
    else:
        bad = TINY_CLIP / "open_clip_model.safetensors"
        arch = "ViT-B-32"
        expect = "does not fit the architecture"
    w.act_import_model.trigger()
    imp = w.models_dialog.import_dialog
    imp.set_source(bad)
    imp.arch_combo.setCurrentText(arch)
    imp.import_button.click()
    qtbot.waitUntil(lambda: imp.error_box is not None, timeout=120_000)
    box = imp.error_box
    assert box.objectName() == "importModelError" and box.isVisible()
    assert expect in box.text() and "Nothing was added" in box.text()
    assert imp.isVisible() and imp.import_button.isEnabled()  # fix and retry
    assert not (library / "models").exists() or \
        [p.name for p in (library / "models").iterdir()] == []
    assert (_meta(library, "model_id"), _meta(library, "model_spec")) == before
    assert w.model_state == "ready" and w.searchable == 8


@pytest.fixture
def hub(monkeypatch):
    with FakeHub() as h:
        h.add_folder("clipgallery-test/tiny-clip", TINY_CLIP)
        monkeypatch.setenv("CLIPGALLERY_HUB_ENDPOINT", h.endpoint)
        yield h


def test_download_dialog_progress_cancel_and_resume(qtbot, tmp_path, make_window, hub):
    import open_clip

    w = make_window()
    qtbot.waitUntil(lambda: w.model_state == "ready", timeout=120_000)
    # The hub serves the curated "faster" model's repository (with the tiny weights:
    # only the transfer is under test here).
    faster = models.curated("faster")[0]
    repo = "/".join(open_clip.get_pretrained_cfg(faster.name, faster.pretrained)["hf_hub"]
                    .strip("/").split("/")[:2])
    blob = (TINY_CLIP / "open_clip_model.safetensors").read_bytes()
    hub.files[f"{repo}/open_clip_model.safetensors"] = blob
    hub.delay = 0.02  # 110 pieces: a couple of seconds, time to press Cancel

    w.act_models.trigger()
    md = w.models_dialog
    qtbot.waitUntil(lambda: md.loads >= 1, timeout=60_000)
    md.select(faster.spec)
    assert md.download_button.isEnabled() and not md.use_button.isEnabled()
    md.download_button.click()
    dl = md.download_dialog
    assert dl is not None and dl.isVisible()
    qtbot.waitUntil(lambda: dl.updates >= 2, timeout=60_000)
    assert f" of {_weights_mb():.1f} MB" in dl.detail.text() and "/s" in dl.detail.text()
    assert 0 < dl.bar.value() < dl.bar.maximum()
    dl.cancel_button.click()
    qtbot.waitUntil(lambda: dl.outcome is not None, timeout=60_000)
    assert dl.outcome == "cancelled" and not dl.isVisible()
    assert models.installed(tmp_path / "library" / "models") == []
    qtbot.waitUntil(lambda: md.loads >= 1 and dict(md.rows())[faster.spec] == "not downloaded",
                    timeout=10_000)

    # Again: it resumes where the cancelled one stopped and completes.
    hub.delay = 0.0
    md.download_button.click()
    dl2 = md.download_dialog
    assert dl2 is not dl
    qtbot.waitUntil(lambda: dl2.outcome is not None, timeout=60_000)
    assert dl2.outcome == "ok", dl2.error
    ranges = [h.get("Range") for h in hub.gets("/lfs/")]
    assert ranges[0] is None and ranges[-1] is not None and ranges[-1].startswith("bytes=")
    assert int(ranges[-1][len("bytes="):-1]) > 0
    assert dl2.result_path is not None and dl2.result_path.read_bytes() == blob
    qtbot.waitUntil(lambda: dict(md.rows()).get(faster.spec) == "installed", timeout=60_000)


def test_download_failure_is_explained(qtbot, tmp_path, make_window, hub):
    w = make_window()
    qtbot.waitUntil(lambda: w.library_state == "open", timeout=120_000)
    w.act_models.trigger()
    md = w.models_dialog
    md.other_edit.setText("hf-hub:nobody/nothing")
    md.other_button.click()
    dl = md.download_dialog
    qtbot.waitUntil(lambda: dl.outcome is not None, timeout=60_000)
    assert dl.outcome == "failed" and "has no file" in dl.detail.text()
    assert dl.isVisible()  # stays up with the reason until closed
    dl.reject()
    assert not dl.isVisible()
