#!/usr/bin/env bash
# The one GPU check for a lent machine (or, anywhere else, its CPU fallback), < 8 min:
#
#   device run:  bash benchmarks/gpu_check.sh        (carry: [".whl"], made by gpu_wheels.sh)
#   here:        PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh --quick
#
# 1. installs what the machine lacks from the wheels in .whl/ (nothing is fetched);
# 2. runs the GPU tests (tests/test_gpu.py: fp16 vs fp32 cosine, out-of-memory halving,
#    nvJPEG; skipped without CUDA);
# 3. runs benchmarks/bench_gpu.py (decode ceiling on every core, end to end, fp16, nvJPEG).
# Logs and JSON go to $OUT (the device tool brings them back), else /tmp/gpu-check.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
ARGS=()
[ "${1:-}" = "--quick" ] && ARGS=(--big 12 --small 40)
start=$(date +%s)
{
    echo "== machine"; nproc; nvidia-smi -L 2>/dev/null || echo "no NVIDIA GPU: CPU fallback"
    "$PY" --version
    if [ -d .whl ] && ! "$PY" -c "import open_clip, hnswlib, blake3" 2>/dev/null; then
        echo "== installing from .whl/"
        "$PY" -m pip install -q --no-index --find-links .whl open_clip_torch ftfy watchdog \
            platformdirs blake3 pillow-heif rawpy hnswlib
        "$PY" -m pip install -q --no-deps --no-build-isolation -e . || \
            echo "(editable install failed: running from the tree with PYTHONPATH)"
    fi
    export PYTHONPATH=$PWD
    [ -d .whl/corpus ] && export CLIPGALLERY_GPU_CORPUS=$PWD/.whl/corpus
    echo "== GPU tests"
    timeout 240 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" tests/test_gpu.py -rs
    echo "tests exit $?"
    echo "== GPU benchmark"
    timeout 300 "$PY" benchmarks/bench_gpu.py "${ARGS[@]}" --json "$OUT/bench_gpu.json"
    echo "bench exit $?"
    echo "== took $(( $(date +%s) - start )) s"
} 2>&1 | tee "$OUT/gpu_check.log"
