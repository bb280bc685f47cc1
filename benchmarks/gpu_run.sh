#!/usr/bin/env bash
# The device check, one prepared script: install what the GPU image lacks, run the model tests on the GPU,
# then the speed benchmark (benchmarks/speed.py --device cuda): 20NG epochs at batch 64 / 1,024 / 4,096 and
# the synthetic GBN grid (N in 10k, 100k, 1M x V in 2k, 20k, 50k, batch 4,096 and 16,384), JSON under $OUT.
#
#   OUT=/some/dir bash benchmarks/gpu_run.sh                 # default stages: tests speed
#   STAGES="tests speed check" bash benchmarks/gpu_run.sh     # also the older gpu_check.py fits (~6 min)
#   STAGES="tests speed hostdata" bash benchmarks/gpu_run.sh  # also 1M x 50k with batches gathered on the host
#   bash benchmarks/gpu_run.sh --dry-run                      # the same stages on the CPU with tiny sizes
#
# Needs build/gpu/wheels (safetensors) and build/gpu/20ng-train (see docs/performance.md for how they
# are made). The GPU image has torch, numpy, scipy, scikit-learn, typer and rich but no spaCy, gensim,
# tomotopy or matplotlib: nothing run here imports them (speed.py records any such import in its JSON as
# forbidden_imports). Synthetic corpora are generated there (8 processes, about a minute in all) under
# build/speed. Every stage has its own time limit (120 + 100 + 420 s at most; about 6 minutes expected);
# speed.py writes its JSON after every configuration, so a stage cut short still leaves what it measured.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
STAGES=${STAGES:-"tests speed"}
TESTS=${TESTS:-"tests/test_distributions.py tests/test_model.py tests/test_device_corpus.py"}
DEVICE=cuda
SIZES=all
LARGEST=1Mx50k
BATCHES=4096,16384
STEPS=300
TWENTY_NG=build/gpu/20ng-train
if [[ "${1:-}" == "--dry-run" ]]; then  # a smoke run of this script without a GPU
  DEVICE=cpu SIZES=2kx500,5kx1k LARGEST=5kx1k BATCHES=256 STEPS=5
fi
mkdir -p "$OUT"
started=$(date +%s)
stamp() { echo "[$(( $(date +%s) - started )) s] $*" | tee -a "$OUT/stages.txt"; }

if ! python -c "import safetensors" 2>/dev/null; then
  pip install --no-index --no-deps -q build/gpu/wheels/*.whl 2>&1 | tail -1
fi
export PYTHONPATH=$PWD  # the GPU image has no build backend to install the project with
if [[ $DEVICE == cuda ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
fi
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$OUT/gpu.txt"

if [[ " $STAGES " == *" tests "* ]]; then
  stamp "tests: $TESTS"
  # shellcheck disable=SC2086
  timeout 120 python -m pytest -q -p no:cacheprovider $TESTS 2>&1 | tail -3 | tee "$OUT/pytest.txt"
fi

if [[ " $STAGES " == *" speed "* ]]; then
  if [[ -d $TWENTY_NG ]]; then
    stamp "speed: 20NG epochs"
    timeout 100 python benchmarks/speed.py --device "$DEVICE" --parts grid --sizes none --no-real \
      --corpus "20NG train=$TWENTY_NG" --batch-size 64,1024,4096 --max-steps "$STEPS" --config-timeout 60 \
      --json "$OUT/speed-$DEVICE-20ng.json" 2>&1 | tee "$OUT/speed-$DEVICE-20ng.txt"
  fi
  stamp "speed: synthetic grid"
  timeout 420 python benchmarks/speed.py --device "$DEVICE" --parts grid --sizes "$SIZES" --no-real \
    --batch-size "$BATCHES" --max-steps "$STEPS" --max-val-docs 20000 --config-timeout 120 \
    --json "$OUT/speed-$DEVICE.json" 2>&1 | tee "$OUT/speed-$DEVICE.txt"
fi

if [[ " $STAGES " == *" hostdata "* ]]; then  # the largest configuration again, batches gathered on the host
  stamp "speed: largest corpus, host data path"
  timeout 150 python benchmarks/speed.py --device "$DEVICE" --parts grid --sizes "$LARGEST" --no-real --host-data \
    --batch-size "${BATCHES##*,}" --max-steps "$STEPS" --no-validation --config-timeout 120 \
    --json "$OUT/speed-$DEVICE-hostdata.json" 2>&1 | tee "$OUT/speed-$DEVICE-hostdata.txt"
fi

if [[ " $STAGES " == *" check "* ]]; then
  stamp "gpu_check"
  timeout 400 python benchmarks/gpu_check.py build/gpu/sample "$TWENTY_NG" --device "$DEVICE" \
    --batch-sizes 64,1024 --json "$OUT/gpu_check.json" 2>&1 | tee "$OUT/gpu_check.txt"
fi
stamp "done"
