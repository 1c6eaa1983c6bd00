#!/bin/bash
# Issue 13's GPU measurements in ONE device call (about 6-9 minutes on an H100), before and after in the same run.
#
# Prepare here, once per session (a folder git ignores through .git/info/exclude, carried with the call):
#     bash bench/gpu_session.sh --prepare
#   gpu-carry/wheels: the pure-Python wheels the device image lacks (open_clip_torch, ftfy, wcwidth; it has
#   torch, timm and numpy); gpu-carry/before: the engine before the AlignCLIP batching (6930d68) and this
#   bench_gpu.py, so that "before" runs the same benchmark code.
# Then:  run(command="bash bench/gpu_session.sh", carry=["gpu-carry"], timeout_s=560)
# It writes under $OUT: nvidia-smi.txt, pip.log, tests.log (the CUDA cases of the ops and upsampler tests),
# gpu-after.md (all methods, bf16, batches 1/8/32, with the profiler's CPU/GPU split), gpu-before.md.
# Not measured here: bench_pipeline.py's 20000^2 GeoTIFF (the device image has no GDAL).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
CARRY=gpu-carry
BEFORE=6930d68

if [ "${1:-}" = "--prepare" ]; then
    rm -rf "$CARRY" && mkdir -p "$CARRY/wheels" "$CARRY/before/bench"
    exclude=$(git rev-parse --git-path info/exclude)
    mkdir -p "$(dirname "$exclude")"
    grep -qsx "/$CARRY/" "$exclude" || echo "/$CARRY/" >> "$exclude"
    .venv/bin/pip download --quiet --no-deps --dest "$CARRY/wheels" open_clip_torch==3.3.0 ftfy wcwidth \
        --no-index --find-links "${OVSS_WHEELS:-$HOME/.cache/ovss-test-wheels}" \
        || .venv/bin/pip wheel --quiet --no-deps --wheel-dir "$CARRY/wheels" open_clip_torch==3.3.0 ftfy wcwidth
    git archive "$BEFORE" engine | tar -x -C "$CARRY/before"
    cp bench/bench_gpu.py "$CARRY/before/bench/"
    du -sh "$CARRY"
    exit 0
fi

if [ ! -d "$CARRY/wheels" ] || [ ! -d "$CARRY/before/engine" ]; then
    echo "no $CARRY/ here: run 'bash bench/gpu_session.sh --prepare' first and name $CARRY in the call's carry" >&2
    exit 2
fi
OUT=${OUT:-/tmp/ovss-gpu}
mkdir -p "$OUT"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python3 -m pip install --no-index --no-deps "$CARRY"/wheels/*.whl > "$OUT/pip.log" 2>&1 || tail -3 "$OUT/pip.log"
timeout 150 python3 -m pytest -q -o addopts="" -m "not slow" tests/engine/test_ops_alignment.py \
    tests/engine/test_ops_kmeans.py tests/engine/test_ops_sliding.py tests/engine/test_upsamplers.py \
    > "$OUT/tests.log" 2>&1
tail -1 "$OUT/tests.log"
timeout 330 python3 bench/bench_gpu.py --runs 5 --batch 1,8,32 --precisions bf16 --profile \
    --out "$OUT/gpu-after.md" 2>&1 | grep -v "^$" | tail -16
(cd "$CARRY/before" && timeout 150 python3 bench/bench_gpu.py --runs 5 --batch 1,8 --precisions bf16 \
    --methods segearth-ov,alignclip-d,sdci-v2 --out "$OUT/gpu-before.md") 2>&1 | tail -7
