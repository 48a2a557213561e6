#!/usr/bin/env bash
# Build ClipGallery as a one-folder desktop application with PyInstaller:
# dist/ClipGallery/ (Linux, Windows), plus dist/ClipGallery.app on macOS.
#
#   packaging/build.sh [--python PY | --venv DIR] [--with-model DIR|NAME:PRETRAINED]
#                      [--lean] [--cuda] [--clean] [--verbose]
#
# Which Python builds it (it must be the one whose packages get bundled):
#   --python PY   this interpreter, as it is (it must have ClipGallery's dependencies;
#                 ClipGallery itself is taken from this source tree).  $PYTHON works too.
#   --venv DIR    this virtual environment; created and filled with `pip install -e .`
#                 when it does not exist yet.
#   (default)     the project's .venv, created like the README does when missing.
# PyInstaller is installed into that environment when it lacks it.
#
#   --with-model DIR              bundle this open_clip model folder (open_clip_config.json
#                                 + weights) and make it the app's default model, so the
#                                 app works offline on first start;
#   --with-model NAME:PRETRAINED  the same for an open_clip pretrained model: downloaded
#                                 once (network needed at build time) into build/models/.
#   --lean        the lean CPU edition: no torch, torchvision or open_clip (ONNX Runtime,
#                 the tokenizer, Pillow, pillow-heif, rawpy, hnswlib, Qt).  It indexes and
#                 searches with models in ONNX form: bundled (--with-model is converted
#                 with the full .venv at build time), imported ('model import' of a
#                 'model export' folder) or converted earlier on the computer.  Built in
#                 its own environment, build/lean-venv, unless --python/--venv is given.
#   --cuda        Linux: bundle every NVIDIA CUDA library so the app can use an NVIDIA GPU
#                 (about 1.3 GB more). Default: CPU-only, with only the CUDA libraries that
#                 `import torch` needs (see packaging/README.md).
#   --clean       drop PyInstaller's cache (build/pyinstaller) first.
#
# Ends by printing the bundle's size and its biggest parts.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-}
VENV=""
MODEL=""
LEAN=""
SPEC_ARGS=()
PYI_ARGS=(--log-level WARN)
while [ $# -gt 0 ]; do
    case "$1" in
        --python) PY=$2; shift 2 ;;
        --python=*) PY=${1#*=}; shift ;;
        --venv) VENV=$2; shift 2 ;;
        --venv=*) VENV=${1#*=}; shift ;;
        --with-model) MODEL=$2; shift 2 ;;
        --with-model=*) MODEL=${1#*=}; shift ;;
        --cuda) SPEC_ARGS+=(--cuda); shift ;;
        --lean) LEAN=1; SPEC_ARGS+=(--lean); shift ;;
        --clean) PYI_ARGS+=(--clean); shift ;;
        --verbose) PYI_ARGS=(--log-level INFO); shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

venv_python() {  # the interpreter of venv $1 (bin/ on Linux and macOS, Scripts/ on Windows)
    if [ -x "$1/bin/python" ]; then echo "$1/bin/python"; else echo "$1/Scripts/python.exe"; fi
}

FULL_PY=${FULL_PYTHON:-$(venv_python "$ROOT/.venv")}  # converts models for --lean
if [ -z "$PY" ] && [ -n "$LEAN" ]; then
    VENV=${VENV:-$ROOT/build/lean-venv}
    if [ ! -e "$(venv_python "$VENV")" ]; then
        echo "== creating the lean build environment $VENV (no torch)"
        python3 -m venv "$VENV"
        # ClipGallery's dependencies minus what only converting models needs.
        DEPS=$(python3 - "$ROOT/pyproject.toml" <<'PYEOF'
import re, sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
skip = {"torch", "torchvision", "open-clip-torch", "onnx", "safetensors"}
print(" ".join(d for d in deps
               if re.split(r"[<>=!~ \[]", d)[0].lower().replace("_", "-") not in skip))
PYEOF
)
        # shellcheck disable=SC2086
        "$(venv_python "$VENV")" -m pip install -q $DEPS
        # OpenCV (the OCR's image library) without its GUI: opencv-python carries Qt 5,
        # X11 and more (~290 MB in the bundle); the headless build has the same cv2.
        CV=$("$(venv_python "$VENV")" -c "import importlib.metadata as m; print(m.version('opencv-python'))" 2>/dev/null || true)
        if [ -n "$CV" ]; then
            "$(venv_python "$VENV")" -m pip uninstall -q -y opencv-python
            "$(venv_python "$VENV")" -m pip install -q "opencv-python-headless==$CV"
        fi
        "$(venv_python "$VENV")" -m pip install -q --no-deps -e "$ROOT"
    fi
    PY=$(venv_python "$VENV")
fi
if [ -z "$PY" ]; then
    VENV=${VENV:-$ROOT/.venv}
    if [ ! -e "$(venv_python "$VENV")" ]; then
        echo "== creating the build environment $VENV"
        python3 -m venv "$VENV"
        "$(venv_python "$VENV")" -m pip install -q -e "$ROOT"
    fi
    PY=$(venv_python "$VENV")
fi
echo "== building with $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"

if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
    echo "== installing PyInstaller"
    "$PY" -m pip install -q "pyinstaller>=6.11"
fi
"$PY" -c "import PyInstaller; print('== PyInstaller', PyInstaller.__version__)"

if [ -n "$MODEL" ]; then
    PREP_PY=$PY
    [ -n "$LEAN" ] && PREP_PY=$FULL_PY
    if [ -d "$MODEL" ]; then
        MODEL_DIR=$MODEL
    else
        echo "== preparing the model $MODEL"
        MODEL_DIR=$("$PREP_PY" packaging/prepare_model.py "$MODEL" "$ROOT/build/models")
    fi
    if [ -n "$LEAN" ] && [ ! -f "$MODEL_DIR/clipgallery_onnx_model.json" ]; then
        ONNX_DIR=$ROOT/build/models/$(basename "$MODEL_DIR")-onnx
        echo "== converting $MODEL_DIR to ONNX for the lean edition (with $FULL_PY)"
        rm -rf "$ONNX_DIR" "$ROOT/build/models/.export-library"
        "$FULL_PY" -m clipgallery model export "$MODEL_DIR" "$ONNX_DIR" \
            --library "$ROOT/build/models/.export-library"
        MODEL_DIR=$ONNX_DIR
    fi
    echo "== bundling the model $MODEL_DIR"
    SPEC_ARGS+=(--with-model "$MODEL_DIR")
fi

START=$(date +%s)
"$PY" -m PyInstaller --noconfirm "${PYI_ARGS[@]}" \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" \
    packaging/clipgallery.spec -- "${SPEC_ARGS[@]}"
APP=$ROOT/dist/ClipGallery

case "$(uname -s)" in
    Linux)
        # Desktop integration travels with the app, so the folder (or a tarball of it)
        # installs on its own: dist/ClipGallery/install.sh [PREFIX].
        ID=io.github.clipgallery.ClipGallery
        mkdir -p "$APP/share/applications" "$APP/share/metainfo"
        cp packaging/linux/$ID.desktop "$APP/share/applications/"
        cp packaging/linux/$ID.metainfo.xml "$APP/share/metainfo/"
        rm -rf "$APP/share/icons" && mkdir -p "$APP/share/icons"
        cp -r resources/icons/hicolor "$APP/share/icons/"
        cp packaging/linux/install.sh "$APP/install.sh"
        chmod +x "$APP/install.sh"
        ;;
esac

EXE=$APP/clipgallery
[ -x "$EXE" ] || EXE=$APP/clipgallery.exe
echo "== built in $(( $(date +%s) - START )) s: $("$EXE" --version)"
echo "== bundle size:"
du -sh "$APP"
[ -d "$ROOT/dist/ClipGallery.app" ] && du -sh "$ROOT/dist/ClipGallery.app"
echo "== biggest parts:"
INTERNAL=$APP/_internal
[ -d "$INTERNAL" ] || INTERNAL=$APP
{ du -sh "$INTERNAL"/* "$INTERNAL"/*/lib "$INTERNAL"/nvidia/*/lib 2>/dev/null || true; } | sort -h | tail -15
