#!/usr/bin/env bash
# One 2-GPU device call: the demo recipe on GPU 0 while GPU 1 re-measures the fast path.
# Files for $OUT come only from the recipe (7 files); the benches print to stdout.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site:. NCCL_NVLS_ENABLE=0
out=${OUT:-bench-out}; mkdir -p "$out"
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader
(CUDA_VISIBLE_DEVICES=0 timeout 575 python3 -m training.demo_recipe --data data/wesnoth_carry --out runs/demo \
   --total-budget ${BUDGET:-520} --export-dir "$out" > runs-demo.log 2>&1; echo "recipe rc=$?";
 [ -f "$out/summary.json" ] || tail -c 6000 runs-demo.log) &
recipe=$!
(export CUDA_VISIBLE_DEVICES=1
 timeout 200 python3 bench/generate.py --modes fast --repeat-fast 2>&1 | grep -v "^INFO"
 timeout 200 python3 bench/dance.py --cuda-graph --compile --cudnn-benchmark --batch 1,8 2>&1 | grep -v "^INFO" | tail -14
 timeout 120 python3 bench/unet.py --cuda-graph --cudnn-benchmark --dtype bf16 2>&1 | tail -6) &
wait
