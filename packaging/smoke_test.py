"""Smoke test of the BUILT app (dist/ClipGallery), run headless: ``packaging/smoke_test.sh``.

The frozen executable runs from an empty working folder, with a scrubbed environment
(no PYTHONPATH, no virtualenv, HOME in a temporary folder) and, where the system allows
it (``unshare``, as root), without any network and with the project's ``.venv`` and the
``clipgallery/`` source package hidden under empty folders, so it proves that the bundle
needs neither the source tree, nor a Python installation, nor the network.  This script itself only
prepares the photos (with the project's Python: ``tests/synthetic.py``) and checks the
answers.

Checks:

1. ``clipgallery --version``;
2. ``clipgallery index DIR --json``: every photo indexed, the HEIC photo included
   (pillow-heif's libheif), the corrupt RAW file skipped by LibRaw (rawpy) rather than
   for "RAW support is not installed";
3. ``clipgallery status --json``: the counts and the model;
4. ``clipgallery search "a red circle" --json``: the top hits are red circles;
5. ``clipgallery gui ... --screenshot`` (``QT_QPA_PLATFORM=offscreen``), twice: the welcome
   screen of an empty library, then a library indexed by the app itself with the query
   "a red circle"; the second must be a real picture (not blank), differ from the first,
   and show red-circle thumbnails (red pixels).

Model: ``--model tests/data/tiny-clip`` by default; ``--bundled`` passes no ``--model``
and expects the model built in with ``build.sh --with-model`` to be used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERY = "a red circle"
HIDDEN = (ROOT / ".venv", ROOT / "clipgallery")  # hidden from the frozen app, where possible
TOP_K = 3

_results: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> bool:
    _results.append((name, ok, detail))
    print(f"[{'PASS' if ok else 'FAIL'}] {name}{': ' + detail if detail else ''}", flush=True)
    return ok


def make_photos(folder: Path) -> int:
    """Synthetic photos (JPEG), one HEIC red circle, one corrupt RAW; returns the photo count."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from PIL import Image

    from tests.synthetic import draw, make_folder

    specs = [(c, s, bg) for c in ("red", "green", "blue", "yellow")
             for s in ("circle", "square", "triangle") for bg in ("white", "grey")]
    made = make_folder(folder, 2 * len(specs), seed=8, specs=specs)
    import pillow_heif

    pillow_heif.register_heif_opener()
    img = draw("red", "circle", "grey", np.random.default_rng(99))
    img.save(folder / "90000_red_circle_grey.heic", quality=85)
    assert Image.open(folder / "90000_red_circle_grey.heic").size == img.size
    # Not a real RAW: LibRaw must say so (a skip with a decoder's reason).
    (folder / "90001_broken_raw_file.dng").write_bytes(b"II*\x00" + os.urandom(4096))
    return len(made) + 1


def make_text_and_gps_photos(folder: Path) -> None:
    """A sign that says BAKERY (for text in photos) and a photo with GPS in Lisbon."""
    from PIL import Image, ImageDraw, ImageFont

    from tests.ocr_pictures import font_path

    folder.mkdir(parents=True)
    sign = Image.new("RGB", (900, 600), (236, 232, 222))
    ImageDraw.Draw(sign).text((120, 230), "BAKERY", fill=(30, 30, 40),
                              font=ImageFont.truetype(font_path(), 120))
    sign.save(folder / "sign.jpg", quality=90)
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)  # GPSInfo: 38.7223 N, 9.1393 W
    gps.update({1: "N", 2: (38.0, 43.0, 20.28), 3: "W", 4: (9.0, 8.0, 21.48)})
    Image.new("RGB", (640, 480), (90, 140, 200)).save(folder / "lisbon.jpg", exif=exif)


def check_text_and_places(app: Frozen, work: Path) -> None:
    """Text in photos (rapidocr's bundled models) and places (the bundled gazetteer)."""
    photos, lib = work / "photos-text", work / "lib-text"
    make_text_and_gps_photos(photos)
    p = app.run("index", str(photos), "--library", str(lib), "--json")
    if not check("text and places: index exits 0", p.returncode == 0):
        return
    text = json.loads(p.stdout).get("text") or {}
    check("text: the text pass ran (OCR models bundled)", text.get("read") == 2
          and text.get("with_text") == 1 and text.get("failed") == 0, json.dumps(text))
    p = app.run("search", "text:bakery", "--library", str(lib), "--json", model=False)
    hits = json.loads(p.stdout) if p.returncode == 0 else []
    check("text: 'text:bakery' finds the sign", bool(hits) and hits[0]["path"].endswith(
        "sign.jpg"), str([h["path"] for h in hits]))
    p = app.run("search", "--place", "Lisbon", "--library", str(lib), "--json", model=False)
    hits = json.loads(p.stdout) if p.returncode == 0 else []
    check("places: --place Lisbon finds the GPS photo (gazetteer bundled)",
          [Path(h["path"]).name for h in hits] == ["lisbon.jpg"],
          str([(h["path"], h.get("place")) for h in hits]))


def spec_of(path: str) -> tuple[str, str]:
    parts = Path(path).stem.split("_")
    return (parts[1], parts[2]) if len(parts) >= 4 else ("?", "?")


class Frozen:
    def __init__(self, exe: Path, work: Path, model: str | None, offline: bool) -> None:
        self.exe = exe
        self.cwd = work / "cwd"
        self.cwd.mkdir()
        self.model = model
        home = work / "home"
        home.mkdir()
        self.env = {
            "PATH": "/usr/bin:/bin" if os.name != "nt" else os.environ.get("PATH", ""),
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(home),
            "LANG": "C.UTF-8",
            "QT_QPA_PLATFORM": "offscreen",
            "CLIPGALLERY_SCREENSHOT_TIMEOUT": "300",
        }
        for k in ("SYSTEMROOT", "TEMP", "TMP"):  # Windows needs these
            if k in os.environ:
                self.env[k] = os.environ[k]
        self.prefix: list[str] = []
        self.isolation = "none"
        if offline and shutil.which("unshare"):
            # Best: a private mount namespace too, where the project's virtualenv and the
            # clipgallery source package are hidden under empty folders, so the app can
            # use neither.  Needs root (or user namespaces); else only the network is cut.
            hide = " && ".join(f"mount -t tmpfs tmpfs '{d}'" for d in HIDDEN if d.is_dir())
            wrapped = ["unshare", "-m", "-n", "sh", "-c", f'{hide} && exec "$@"', "sh"]
            candidates = [(["unshare", "-n"], "network OFF")]
            if hide:
                candidates.insert(0, (wrapped, "network OFF, .venv and clipgallery/ hidden"))
            for prefix, what in candidates:
                if subprocess.run(prefix + ["true"], capture_output=True).returncode == 0:
                    self.prefix, self.isolation = prefix, what
                    break
        print(f"frozen app: {exe}\n  cwd {self.cwd}; isolation: {self.isolation}", flush=True)

    def run(self, *args: str, model: bool = True, timeout: float = 600
            ) -> subprocess.CompletedProcess:
        cmd = [str(self.exe), *args]
        if model and self.model:
            cmd += ["--model", self.model]
        t0 = time.monotonic()
        p = subprocess.run(self.prefix + cmd, cwd=self.cwd, env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        print(f"$ {' '.join(cmd)}\n  -> exit {p.returncode} in {time.monotonic() - t0:.1f} s",
              flush=True)
        if p.returncode != 0:
            print("  stdout: " + p.stdout[-3000:] + "\n  stderr: " + p.stderr[-3000:], flush=True)
        return p


def image_stats(path: Path):
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(path).convert("RGB")).astype(np.int16)
    red = (a[..., 0] > 170) & (a[..., 1] < 90) & (a[..., 2] < 90)
    return a, float(a.std()), int(red.sum())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--app", type=Path, default=ROOT / "dist" / "ClipGallery")
    ap.add_argument("--model", default=str(ROOT / "tests" / "data" / "tiny-clip"))
    ap.add_argument("--bundled", action="store_true",
                    help="pass no --model: the bundle's own model must be used")
    ap.add_argument("--skip-gui", action="store_true")
    ap.add_argument("--online", action="store_true", help="do not cut the network off")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)

    exe = args.app / ("clipgallery.exe" if os.name == "nt" else "clipgallery")
    if not exe.is_file():
        print(f"no built app at {exe}: run packaging/build.sh first", file=sys.stderr)
        return 2
    model = None if args.bundled else args.model
    bundled_model = None
    info_file = next(iter(args.app.glob("**/clipgallery_bundle.json")), None)
    if info_file is not None:
        info = json.loads(info_file.read_text())
        print(f"bundle: {json.dumps(info)}")
        if info.get("default_model"):
            bundled_model = info_file.parent / info["default_model"]
    if args.bundled and not check("the bundle carries a model (build.sh --with-model)",
                                  bundled_model is not None and bundled_model.is_dir(),
                                  str(bundled_model)):
        return 1
    if model and not Path(model).joinpath("open_clip_config.json").is_file() \
            and ":" not in model:
        print(f"the model {model} is not there (tests/data/tiny-clip comes with the tests)",
              file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="clipgallery-smoke-"))
    t_start = time.monotonic()
    try:
        photos = work / "photos"
        n = make_photos(photos)
        print(f"made {n} photos (+1 corrupt RAW) in {photos}", flush=True)
        app = Frozen(exe.resolve(), work, model, offline=not args.online)

        p = app.run("--version", model=False)
        check("--version", p.returncode == 0 and p.stdout.startswith("clipgallery "),
              p.stdout.strip())

        lib = work / "lib-cli"
        p = app.run("index", str(photos), "--library", str(lib), "--json")
        if check("index exits 0", p.returncode == 0):
            s = json.loads(p.stdout)
            check("index: every photo indexed", s["indexed"] == n, f"{s['indexed']} of {n}")
            raw = [x for x in s["skipped"] if x["path"].endswith(".dng")]
            check("index: RAW support is bundled (rawpy loads; LibRaw rejects the corrupt RAW)",
                  len(raw) == 1 and "not installed" not in raw[0]["reason"],
                  raw[0]["reason"] if raw else "not skipped")
            check("index: nothing else skipped", len(s["skipped"]) == 1,
                  json.dumps(s["skipped"])[:300])

        p = app.run("status", "--library", str(lib), "--json", model=False)
        if check("status exits 0", p.returncode == 0):
            st = json.loads(p.stdout)
            check("status: counts", st["indexed"] == n and st["skipped"] == 1,
                  f"indexed {st['indexed']}, skipped {st['skipped']}")
            if args.bundled:
                check("status: the bundled model made the vectors",
                      st["model_spec"] is not None
                      and Path(st["model_spec"]).resolve() == bundled_model.resolve(),
                      str(st["model_spec"]))
            else:
                check("status: the model", st["model_spec"] is not None, str(st["model_spec"]))

        check_text_and_places(app, work)

        p = app.run("search", QUERY, "--library", str(lib), "--json", "--limit", "10",
                    model=False)
        if check("search exits 0", p.returncode == 0):
            hits = json.loads(p.stdout)
            top = [spec_of(h["path"]) for h in hits[:TOP_K]]
            check(f"search: results for {QUERY!r}", len(hits) > 0, f"{len(hits)} hits")
            check(f"search: the top {TOP_K} are red circles",
                  len(top) == TOP_K and all(t == ("red", "circle") for t in top),
                  ", ".join(Path(h["path"]).name for h in hits[:5]))

        if args.skip_gui:
            print("GUI part skipped (--skip-gui)")
        else:
            welcome = work / "welcome.png"
            p = app.run("gui", "--library", str(work / "lib-empty"), "--screenshot",
                        str(welcome))
            check("gui: welcome screenshot", p.returncode == 0 and welcome.is_file(),
                  f"exit {p.returncode}")
            shot = work / "results.png"
            p = app.run("gui", "--library", str(work / "lib-gui"), "--folder", str(photos),
                        "--query", QUERY, "--screenshot", str(shot))
            if check("gui: results screenshot", p.returncode == 0 and shot.is_file(),
                     f"exit {p.returncode}"):
                a, std, red = image_stats(shot)
                check("gui: the screenshot is not blank", std > 20,
                      f"{a.shape[1]}x{a.shape[0]} px, pixel std {std:.1f}")
                if welcome.is_file():
                    w, _, red_w = image_stats(welcome)
                    same = w.shape == a.shape
                    diff = float(abs(w - a).mean()) if same else 255.0
                    check("gui: it differs from the welcome screen", diff > 3,
                          f"mean abs difference {diff:.1f}")
                    check("gui: it shows red-circle thumbnails", red > 2000 and red > 5 * red_w,
                          f"{red} red pixels (welcome screen: {red_w})")
                out = ROOT / "build" / "smoke"
                out.mkdir(parents=True, exist_ok=True)
                for f in (welcome, shot):
                    if f.is_file():
                        shutil.copy(f, out / f.name)
                print(f"screenshots copied to {out}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in _results if not r[1]]
    print(f"\n{len(_results) - len(failed)} passed, {len(failed)} failed "
          f"({time.monotonic() - t_start:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
