#!/usr/bin/env bash
# One device call's worth of network benchmarks; logs land in $OUT (or ./bench-out).
# usage: bash bench/gpu_suite.sh nets|generate|train|ddbatch
set -uo pipefail
out=${OUT:-bench-out}; mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=.
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.version.cuda)" | tee -a "$out/gpu.txt"
case "${1:-nets}" in
  nets)
    timeout 150 python3 bench/unet.py --cuda-graph 2>&1 | tee "$out/unet.txt"
    timeout 120 python3 bench/dance.py --cuda-graph 2>&1 | tee "$out/dance.txt"
    timeout 90 python3 bench/vqvae.py --device cuda --seconds 30 --repeats 3 2>&1 | tee "$out/vqvae.txt"
    timeout 60 python3 bench/vqvae.py --device cuda --seconds 30 --repeats 3 --dtype bfloat16 2>&1 | tee -a "$out/vqvae.txt"
    ;;
  generate)
    timeout 560 python3 bench/generate.py --modes "${MODES:-plain,graphs,fast}" --repeat-fast \
      --out "$out/generate.json" 2>&1 | tee "$out/generate.txt"
    ;;
  ddbatch)  # issue 15's next question: do bigger stereo-stage batches (fewer, fuller graph replays) pay?
    for b in 8 11 21; do
      timeout 180 python3 bench/generate.py --modes fast --repeat-fast --dd-batch "$b" 2>&1 | grep -E "^fast|^device" \
        | sed "s/^/dd-batch $b: /" | tee -a "$out/ddbatch.txt"
    done
    ;;
  train)
    timeout 300 python3 bench/train.py "${@:2}" 2>&1 | tee "$out/train.txt"
    ;;
esac
