#!/usr/bin/env bash
# Prepare, on a machine with network (this one), what benchmarks/gpu_check.sh needs on
# a lent GPU machine that reaches nothing: wheels for its Python (3.12; torch,
# torchvision, onnxruntime, numpy and pillow are there already) in .whl/, and a sample
# of the corpus photos in .whl/corpus/.  .whl/ is git-ignored (.git/info/exclude) and
# travels with the device tool's `carry: [".whl"]` (≤ 64 MiB in all).
set -euo pipefail
cd "$(dirname "$0")/.."
PY312=${PY312:-$(command -v python3.12 >/dev/null && python3.12 -c "" 2>/dev/null && echo python3.12 || echo /root/.pyenv/versions/3.12.1/bin/python3.12)}
mkdir -p .whl/corpus
EXCLUDE=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$EXCLUDE")"
grep -qx '/.whl/' "$EXCLUDE" 2>/dev/null || echo '/.whl/' >> "$EXCLUDE"
"$PY312" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl \
    open_clip_torch ftfy wcwidth watchdog platformdirs blake3 pillow-heif rawpy
# hnswlib is published as source only: build its wheel here, for 3.12.
"$PY312" -m pip wheel -q --no-deps -w .whl hnswlib
CORPUS=${CORPUS:-../shared/corpus}
{ find "$CORPUS" -iname '*.jpg' -size -6M 2>/dev/null | sort | head -24 | \
    while read -r f; do cp "$f" ".whl/corpus/$(basename "$f")"; done; } || true
echo "$(ls .whl/corpus | wc -l) corpus photos in .whl/corpus"
du -sh .whl
ls .whl
