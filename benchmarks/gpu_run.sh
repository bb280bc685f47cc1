#!/usr/bin/env bash
# The device check: install the project without its text extras, run the model tests, time GPU fits.
# Needs build/gpu/{wheels,sample,20ng-train} (see docs/performance.md for how they are made).
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
pip install --no-index --no-deps -q build/gpu/wheels/*.whl 2>&1 | tail -1
export PYTHONPATH=$PWD  # the GPU image has no build backend to install the project with
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
timeout 120 python -m pytest -q tests/test_distributions.py tests/test_model.py 2>&1 | tail -3 | tee "$OUT/pytest.txt"
timeout 400 python benchmarks/gpu_check.py build/gpu/sample build/gpu/20ng-train --device cuda \
  --batch-sizes 64,1024 --json "$OUT/gpu_check.json" 2>&1 | tee "$OUT/gpu_check.txt"
