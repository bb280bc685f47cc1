#!/usr/bin/env bash
# The device check, one prepared script: install what the GPU image lacks, run the model tests on the GPU,
# then the speed benchmark (benchmarks/speed.py --device cuda) and the profiler (benchmarks/profile_step.py),
# most important first, inside one time budget, and pack everything into $OUT/gpu-results.tar.gz (the device
# tool brings back at most 8 files):
#   1. tests (the CUDA ones included: tests/test_cuda.py, tests/test_device_corpus.py), then
#      benchmarks/determinism_probe.py: where two same-seed trainers part, with graphs, without, and with
#      torch's deterministic algorithms
#   2. 20NG epochs at batch 64 / 256 / 1,024 / 4,096 (the 0.1 s target) with CUDA graphs (the default), the
#      same without them (--no-cuda-graphs) at 256 and 1,024, and a profile of both at 256 (and 4,096)
#   3. the synthetic 1M x 50k corpus at batch 4,096 and 16,384 (the 3 s target), without CUDA graphs at the
#      largest batch, a profile at the largest batch, and the same corpus with batches gathered on the
#      host (--host-data) to compare both data paths
#   4. time to reach tomotopy's 20NG perplexity (tomotopy on the machine's CPU cores, ours on the GPU)
#   5. 20NG at batch 256 and 1,024 through torch.compile (--torch-compile), and a profile of it
#   6. the rest of the synthetic grid (N in 10k, 100k, 1M x V in 2k, 20k, 50k) for the growth plot
#
#   OUT=/some/dir bash benchmarks/gpu_run.sh        # BUDGET=540 seconds in all by default
#   BATCHES=16384 REST=none PROFILE_20NG_BATCHES=256 bash benchmarks/gpu_run.sh   # a shorter check
#   bash benchmarks/gpu_run.sh --dry-run            # the same stages on the CPU with tiny sizes
#
# Needs build/gpu/wheels (safetensors, tomotopy), build/gpu/20ng-train and build/gpu/corpora (see
# docs/performance.md for how they are made). The GPU image has torch, numpy, scipy, scikit-learn, typer
# and rich but no spaCy, gensim, tomotopy or matplotlib: tomotopy comes as a wheel, for the LDA stage only;
# nothing else run here imports any of them (speed.py records such imports in the grid's JSON as
# forbidden_imports). Synthetic corpora are generated there under build/speed. Each stage gets at most its
# own limit and never more than what is left of BUDGET; speed.py writes its JSON after every
# configuration, so a stage cut short still leaves what it measured.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
BUDGET=${BUDGET:-540}
TESTS=${TESTS:-"tests/test_cuda.py tests/test_graphed_steps.py tests/test_distributions.py tests/test_model.py tests/test_device_corpus.py tests/test_averaging.py"}
DEVICE=cuda
LARGEST=1Mx50k
LARGEST_FOLDER=build/speed/gbn-v2-n1000000-v50000-s0  # where speed.py caches that corpus
REST=${REST:-10kx2k,10kx20k,10kx50k,100kx2k,100kx20k,100kx50k,1Mx2k,1Mx20k}
BATCHES=${BATCHES:-4096,16384}
TWENTY_NG_BATCHES=${TWENTY_NG_BATCHES:-64,256,1024,4096}
STEPS=300
PROBE_STEPS=15
PROFILE_STEPS=20
WORKERS=$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))
TWENTY_NG=build/gpu/20ng-train
CORPORA=build/gpu/corpora  # 20news/train.txt.gz and test.txt.gz, copied from ../shared/corpora
LDA_OURS=${LDA_OURS:-gamma:128:6e-3:5:0.995,gamma:512:1e-2:5:0.995,weibull:64:3e-3:0:0.995}
LDA_SECONDS=${LDA_SECONDS:-40}
EAGER_20NG_BATCHES=${EAGER_20NG_BATCHES:-256,1024}
LDA_QUICK=
if [[ "${1:-}" == "--dry-run" ]]; then  # a smoke run of this script without a GPU
  LDA_QUICK=--quick LDA_SECONDS=5 COMPILED_BATCHES=256 EAGER_20NG_BATCHES=256 DEVICE=cpu LARGEST=5kx1k LARGEST_FOLDER=build/speed/gbn-v2-n5000-v1000-s0 REST=2kx500 BATCHES=256 TWENTY_NG_BATCHES=256,1024 STEPS=5 PROFILE_STEPS=3 PROBE_STEPS=2
fi
WORK=$(mktemp -d)
mkdir -p "$OUT"
started=$(date +%s)
stamp() { echo "[$(( $(date +%s) - started )) s] $*" | tee -a "$WORK/stages.txt"; }
# run LIMIT NAME COMMAND...: the command under timeout, at most LIMIT s and what is left of BUDGET
run() {
  local limit=$1 name=$2 left=$(( BUDGET - ($(date +%s) - started) - 15 ))
  shift 2
  (( left < limit )) && limit=$left
  if (( limit < 10 )); then stamp "skipped (budget spent): $name"; return; fi
  stamp "$name (at most $limit s)"
  timeout "$limit" "$@" 2>&1 | tee "$WORK/$name.txt"
}
pack() { stamp "done"; cp "$WORK/stages.txt" "$OUT/"; tar -czf "$OUT/gpu-results.tar.gz" -C "$WORK" --exclude=./site .; }
trap pack EXIT

export PYTHONPATH=$PWD PYTHONUNBUFFERED=1  # the GPU image has no build backend to install the project with
if ! python -c "import safetensors, tomotopy" 2>/dev/null; then  # a wheel is a zip: unpacked onto the path
  for wheel in build/gpu/wheels/*.whl; do python -m zipfile -e "$wheel" "$WORK/site"; done
  export PYTHONPATH=$PYTHONPATH:$WORK/site
fi
python -c "import safetensors, tomotopy; print('tomotopy', tomotopy.__version__)" 2>&1 | tail -1 | tee -a "$WORK/gpu.txt"
if [[ $DEVICE == cuda ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$WORK/gpu.txt"
fi
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$WORK/gpu.txt"
speed=(python benchmarks/speed.py --device "$DEVICE" --parts grid --no-real --max-steps "$STEPS"
  --gen-workers "$WORKERS" --max-val-docs 20000)
profile=(python benchmarks/profile_step.py --device "$DEVICE" --steps "$PROFILE_STEPS")

# shellcheck disable=SC2086
run 90 pytest python -m pytest -q -p no:cacheprovider -rs $TESTS
# where two same-seed fits at 5,000 x 2,000, batch 1,024 part (they did on an H100, with and without graphs)
probe=(python benchmarks/determinism_probe.py --device "$DEVICE" --steps "$PROBE_STEPS")
run 30 determinism "${probe[@]}" --json "$WORK/determinism.json"
run 30 determinism-eager "${probe[@]}" --no-cuda-graphs --json "$WORK/determinism-eager.json"
CUBLAS_WORKSPACE_CONFIG=:4096:8 run 30 determinism-eager-deterministic "${probe[@]}" --no-cuda-graphs \
  --deterministic-algorithms --json "$WORK/determinism-eager-deterministic.json"
if [[ -d $TWENTY_NG ]]; then
  run 100 speed-20ng "${speed[@]}" --sizes none --corpus "20NG train=$TWENTY_NG" --batch-size "$TWENTY_NG_BATCHES" \
    --config-timeout 60 --json "$WORK/speed-$DEVICE-20ng.json"
  run 60 speed-20ng-eager "${speed[@]}" --sizes none --corpus "20NG train=$TWENTY_NG" --no-cuda-graphs \
    --batch-size "$EAGER_20NG_BATCHES" --config-timeout 40 --json "$WORK/speed-$DEVICE-20ng-eager.json"
  for batch in ${PROFILE_20NG_BATCHES:-256 4096}; do
    run 40 "profile-20ng-$batch" "${profile[@]}" "$TWENTY_NG" --batch-size "$batch" --json "$WORK/profile-20ng-$batch.json"
  done
  run 40 profile-20ng-256-eager "${profile[@]}" "$TWENTY_NG" --batch-size 256 --no-cuda-graphs \
    --json "$WORK/profile-20ng-256-eager.json"
fi
run 180 speed-largest "${speed[@]}" --sizes "$LARGEST" --batch-size "$BATCHES" --config-timeout 120 \
  --json "$WORK/speed-$DEVICE-largest.json"
run 60 speed-largest-eager "${speed[@]}" --sizes "$LARGEST" --batch-size "${BATCHES##*,}" --no-cuda-graphs \
  --no-validation --config-timeout 50 --json "$WORK/speed-$DEVICE-largest-eager.json"
if [[ -d $LARGEST_FOLDER ]]; then
  run 60 profile-largest "${profile[@]}" "$LARGEST_FOLDER" --batch-size "${BATCHES##*,}" --json "$WORK/profile-largest.json"
fi
[[ ${HOSTDATA:-1} == 0 ]] || run 90 speed-largest-hostdata "${speed[@]}" --sizes "$LARGEST" --host-data --batch-size "${BATCHES##*,}" --no-validation \
  --config-timeout 80 --json "$WORK/speed-$DEVICE-largest-hostdata.json"
if [[ -d $CORPORA/20news ]]; then  # time to reach tomotopy's 20NG perplexity: tomotopy on the CPU cores, ours on the GPU
  run 240 lda-20ng python benchmarks/speed.py --device "$DEVICE" --parts lda --lda 20news --corpora "$CORPORA" \
    --lda-models tomotopy --threads "$(nproc)" --ours "$LDA_OURS" --model-max-seconds "$LDA_SECONDS" $LDA_QUICK \
    --json "$WORK/speed-$DEVICE-lda-20ng.json"
fi
if [[ -d $TWENTY_NG ]]; then  # the same 20NG epochs through torch.compile (needs Triton in the image)
  run 150 speed-20ng-compiled "${speed[@]}" --sizes none --corpus "20NG train=$TWENTY_NG" --torch-compile \
    --batch-size "${COMPILED_BATCHES:-256,1024}" --config-timeout 140 --json "$WORK/speed-$DEVICE-20ng-compiled.json"
  run 90 profile-20ng-256-compiled "${profile[@]}" "$TWENTY_NG" --batch-size 256 --torch-compile \
    --json "$WORK/profile-20ng-256-compiled.json"
fi
[[ $REST == none ]] || run 300 speed-grid "${speed[@]}" --sizes "$REST" --batch-size "$BATCHES" --config-timeout 100 --json "$WORK/speed-$DEVICE.json"
