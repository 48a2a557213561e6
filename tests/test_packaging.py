"""Fast checks of the packaging files (no build): desktop entry, AppStream data, icons,
the PyInstaller spec, the runtime hook and the Linux install script.

The real build and the frozen-app smoke test are slow (minutes, GBs) and run apart:
``packaging/build.sh && packaging/smoke_test.sh`` (see packaging/README.md).
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "packaging"
APP_ID = "io.github.clipgallery.ClipGallery"
DESKTOP = PKG / "linux" / f"{APP_ID}.desktop"
METAINFO = PKG / "linux" / f"{APP_ID}.metainfo.xml"
ICONS = ROOT / "resources" / "icons"
SVG = ICONS / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
SIZES = (16, 32, 48, 64, 128, 256, 512)
HOOK = PKG / "rthooks" / "pyi_rth_clipgallery.py"
POSIX_ONLY = pytest.mark.skipif(os.name == "nt", reason="shell scripts for Linux/macOS")


def _run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=120, **kw)


# -- desktop entry and AppStream ---------------------------------------------------------


def test_desktop_entry_fields():
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # keys are case-sensitive
    cp.read(DESKTOP, encoding="utf-8")
    entry = cp["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "ClipGallery"
    assert entry["Icon"] == APP_ID
    assert entry["Exec"].split()[0] == "clipgallery"  # install.sh makes it absolute
    assert entry["Terminal"] == "false"
    assert "Photography" in entry["Categories"].split(";")


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate not installed (Debian: desktop-file-utils)")
def test_desktop_entry_validates():
    p = _run("desktop-file-validate", str(DESKTOP))
    assert p.returncode == 0 and "error" not in p.stdout + p.stderr, p.stdout + p.stderr


def test_metainfo_matches_desktop_entry():
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == DESKTOP.name
    assert root.findtext("icon") == APP_ID
    assert root.find("provides/binary").text == "clipgallery"
    versions = [r.get("version") for r in root.iter("release")]
    init = (ROOT / "clipgallery" / "__init__.py").read_text()
    assert any(f'"{v}"' in init for v in versions), "no <release> for the package version"


def test_packaging_names_every_registered_file_type():
    """The file types the packaging announces come from the one registry (formats)."""
    from clipgallery.core.photos import formats

    root = ET.parse(METAINFO).getroot()
    reads = next(li.text for li in root.iter("li") if li.text.startswith("Reads "))
    for ft in formats.file_types():
        assert ft.label.lower() in reads.lower(), f"metainfo does not name {ft.label}"
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str
    cp.read(DESKTOP, encoding="utf-8")
    entry = cp["Desktop Entry"]
    # "clipgallery gui" opens no file given to it, so the entry claims no MIME type;
    # once Exec takes files (%F), MimeType must list exactly formats.mime_types().
    takes_files = any(code in entry["Exec"].split() for code in ("%f", "%F", "%u", "%U"))
    mime = [m for m in entry.get("MimeType", "").split(";") if m]
    assert mime == (list(formats.mime_types()) if takes_files else [])


@pytest.mark.skipif(shutil.which("appstreamcli") is None,
                    reason="appstreamcli not installed (Debian: appstream)")
def test_metainfo_validates():
    p = _run("appstreamcli", "validate", "--no-net", str(METAINFO))
    assert p.returncode == 0, p.stdout + p.stderr


# -- icons -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_icon_png(size):
    from PIL import Image

    path = ICONS / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
    assert path.is_file(), path
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size == (size, size)
        assert im.mode == "RGBA"
        alpha = im.getchannel("A")
        assert alpha.getextrema() == (0, 255)  # transparent corners, an opaque tile
        assert im.getpixel((0, 0))[3] == 0


def test_window_icon_is_the_256_png():
    from PIL import Image

    window = ROOT / "resources" / "clipgallery.png"
    assert window.read_bytes() == (ICONS / "hicolor" / "256x256" / "apps" /
                                   f"{APP_ID}.png").read_bytes()
    with Image.open(window) as im:
        assert im.size == (256, 256)


def test_scalable_icon_is_square_svg():
    root = ET.parse(SVG).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    x, y, w, h = (float(v) for v in root.get("viewBox").split())
    assert (x, y) == (0, 0) and w == h


def test_windows_and_macos_icons():
    from PIL import Image

    with Image.open(ICONS / "clipgallery.ico") as ico:
        assert (256, 256) in ico.info["sizes"] and (16, 16) in ico.info["sizes"]
    with Image.open(ICONS / "clipgallery.icns") as icns:
        assert icns.format == "ICNS"


# -- the spec and the runtime hook ---------------------------------------------------------


def test_spec_parses_and_names_existing_files():
    spec = PKG / "clipgallery.spec"
    tree = ast.parse(spec.read_text(), filename=str(spec))
    names = {n.func.id for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert {"Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"} <= names
    for f in (PKG / "clipgallery_main.py", HOOK, ICONS / "clipgallery.ico",
              ICONS / "clipgallery.icns", ROOT / "resources" / "clipgallery.png"):
        assert f.is_file(), f
    for py in (PKG / "clipgallery_main.py", HOOK, PKG / "smoke_test.py",
               PKG / "prepare_model.py", PKG / "make_icons.py"):
        ast.parse(py.read_text(), filename=str(py))


_HOOK_CHECK = textwrap.dedent("""
    import os, runpy, sys, types
    base, libdir = sys.argv[1], sys.argv[2]
    sys.frozen = True
    sys._MEIPASS = base
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    os.environ.pop("CLIPGALLERY_MODEL", None)
    runpy.run_path(sys.argv[3], run_name="pyi_rth_clipgallery")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    bundled = os.path.join(base, "models", "tiny")
    assert os.environ["CLIPGALLERY_DEFAULT_MODEL"] == bundled
    # Stand in for the encoder, so that torch is not imported (the test stays fast).
    enc = types.ModuleType("clipgallery.core.models.torch_backend")
    enc.Encoder = object
    enc.load_encoder = lambda *a, **k: None
    sys.modules["clipgallery.core.models.torch_backend"] = enc
    from clipgallery.core.store import library
    assert library.default_model() == bundled, library.default_model()
    with library.Library.open(libdir, write=True) as lib:
        assert lib.model_spec() == bundled
        assert lib.model_spec("explicit") == "explicit"
        lib.catalog.set_meta("model_spec", "the-library-model")
        assert lib.model_spec() == "the-library-model"   # a library keeps its model
        assert lib.search_spec() == "the-library-model"
    print("ok")
""")


@pytest.mark.parametrize("marker", ["open_clip_config.json", "clipgallery_onnx_model.json"],
                         ids=["full", "lean"])
def test_runtime_hook_sets_the_bundled_model_as_default(tmp_path, marker):
    base = tmp_path / "bundle"
    (base / "models" / "tiny").mkdir(parents=True)
    (base / "models" / "tiny" / marker).write_text("{}")
    (base / "clipgallery_bundle.json").write_text(json.dumps(
        {"version": "0", "cpu_only": True, "default_model": "models/tiny"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPGALLERY_")}
    env["PYTHONPATH"] = str(ROOT)
    p = _run(sys.executable, "-c", _HOOK_CHECK, str(base), str(tmp_path / "lib"), str(HOOK),
             env=env, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stdout + p.stderr


def test_runtime_hook_does_nothing_unfrozen(tmp_path):
    code = ("import os, runpy, sys; runpy.run_path(sys.argv[1]); "
            "print(os.environ.get('CUDA_VISIBLE_DEVICES'), "
            "'CLIPGALLERY_DEFAULT_MODEL' in os.environ)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("CUDA_VISIBLE_DEVICES", "CLIPGALLERY_DEFAULT_MODEL")}
    p = _run(sys.executable, "-c", code, str(HOOK), env=env, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.split() == ["None", "False"], p.stdout + p.stderr


# -- scripts -------------------------------------------------------------------------------


@POSIX_ONLY
@pytest.mark.parametrize("script", ["build.sh", "smoke_test.sh", "linux/install.sh"])
def test_shell_script_syntax(script):
    path = PKG / script
    assert os.access(path, os.X_OK), f"{path} is not executable"
    p = _run("bash", "-n", str(path))
    assert p.returncode == 0, p.stderr


@POSIX_ONLY
def test_install_and_uninstall(tmp_path):
    app = tmp_path / "dist" / "ClipGallery"
    (app / "_internal").mkdir(parents=True)
    launcher = app / "clipgallery"
    launcher.write_text("#!/bin/sh\necho 'clipgallery 9.9'\n")
    launcher.chmod(0o755)
    prefix = tmp_path / "prefix"
    env = dict(os.environ, CLIPGALLERY_APP=str(app), HOME=str(tmp_path))
    p = _run("bash", str(PKG / "linux" / "install.sh"), str(prefix), env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    bin_link = prefix / "bin" / "clipgallery"
    assert bin_link.is_symlink() and bin_link.resolve() == (prefix / "lib" / "clipgallery" /
                                                           "clipgallery").resolve()
    assert _run(str(bin_link)).stdout.strip() == "clipgallery 9.9"
    desktop = (prefix / "share" / "applications" / f"{APP_ID}.desktop").read_text()
    assert f"Exec={bin_link} gui" in desktop
    assert (prefix / "share" / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    for n in SIZES:
        assert (prefix / "share" / "icons" / "hicolor" / f"{n}x{n}" / "apps" /
                f"{APP_ID}.png").is_file()
    assert (prefix / "share" / "icons" / "hicolor" / "scalable" / "apps" /
            f"{APP_ID}.svg").is_file()
    # Installing again replaces the app folder as a whole.
    (app / "_internal" / "new-file").write_text("x")
    assert _run("bash", str(PKG / "linux" / "install.sh"), str(prefix), env=env).returncode == 0
    assert (prefix / "lib" / "clipgallery" / "_internal" / "new-file").is_file()
    p = _run("bash", str(PKG / "linux" / "install.sh"), "--uninstall", str(prefix), env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert not bin_link.exists() and not (prefix / "lib" / "clipgallery").exists()
    assert not (prefix / "share" / "applications" / f"{APP_ID}.desktop").exists()
    assert not list((prefix / "share" / "icons").rglob(f"{APP_ID}.*"))


def test_frozen_app_serves_decode_children(tmp_path):
    # In the frozen app sys.executable is the app itself (no ``-c``): the decode guard
    # starts it with FROZEN_CHILD_FLAG, and the entry point must then serve decodes.
    # Run the entry script the way the frozen app does, as the guard's child.
    from clipgallery.core.photos import guard

    main_py = (PKG / "clipgallery_main.py").read_text()
    assert repr(guard.FROZEN_CHILD_FLAG)[1:-1] in main_py
    proc = subprocess.run([sys.executable, str(PKG / "clipgallery_main.py"),
                           guard.FROZEN_CHILD_FLAG], input=b"", capture_output=True,
                          timeout=120, cwd=ROOT)
    # It said "ready" on stdout (a frame) and exited at the end of its input.
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.endswith(b"ready"), proc.stdout
