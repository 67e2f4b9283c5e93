#!/usr/bin/env bash
# One device call's worth of network benchmarks; logs land in $OUT (or ./bench-out).
# usage: bash bench/gpu_suite.sh nets|generate|train|ddbatch|compile|generate-compile|dance-next|dance-taps|gn-stats|fast-cold|fast-b1|fast-weights|b1-knobs|gn-chunks|split-k|b1-tuning|per-call|final|final-x2
set -uo pipefail
out=${OUT:-bench-out}; mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
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
  compile)  # issue 15: torch.compile (inductor) of both nets; needs 2 GPUs (nvidia-h100-x2)
    ( CUDA_VISIBLE_DEVICES=0 timeout 230 python3 bench/unet.py --cuda-graph --compile --no-eager --dtype bf16 \
        --batch 1 16 --no-flops > "$out/unet_compile.txt" 2>&1
      CUDA_VISIBLE_DEVICES=0 timeout 330 python3 bench/generate.py --modes fast,fast-compile --repeat-fast \
        --dd-batch "${DD_BATCH:-8}" --out "$out/generate_compile.json" > "$out/generate_compile.txt" 2>&1 ) &
    CUDA_VISIBLE_DEVICES=1 timeout 560 python3 bench/dance.py --cuda-graph --channels-last --compile --dtype bf16 \
      --batch 1,8 --modes graph-cl,compile-cl+graph,compile+graph > "$out/dance_compile.txt" 2>&1
    wait
    grep -v "^W1125\|^ *$" "$out"/*compile*.txt | grep -v "W[0-9]\{4\} " | tail -60
    ;;
  generate-compile)  # issue 15: the compiled fast path end to end, cold and warm; needs 2 GPUs
    ( CUDA_VISIBLE_DEVICES=0 timeout 575 python3 bench/generate.py --modes fast-compile --repeat-fast \
        --dd-batch 8 --out "$out/gen_compile_dd8.json" > "$out/gen_compile_dd8.txt" 2>&1 ) &
    CUDA_VISIBLE_DEVICES=1 timeout 200 python3 bench/generate.py --model demo --modes plain,fast-compile \
      --out "$out/gen_compile_demo.json" > "$out/gen_compile_demo.txt" 2>&1
    CUDA_VISIBLE_DEVICES=1 timeout 360 python3 bench/generate.py --modes fast-compile --repeat-fast \
      --dd-batch 21 --out "$out/gen_compile_dd21.json" > "$out/gen_compile_dd21.txt" 2>&1
    wait
    grep -h "^fast\|^plain\|^equiv\|Error\|error" "$out"/gen_compile_*.txt | grep -v "W[0-9]\{4\} " | tail -40
    ;;
  dance-next)  # issue 15, still open: where Dance Diffusion's per-call time can come from next
    # Which layout wins compiled at the pipeline's batch (21 windows), then where batch 1's 9 ms go.
    timeout 380 python3 bench/dance.py --cuda-graph --channels-last --compile --dtype bf16 \
      --batch 21 --modes compile-cl+graph,compile+graph 2>&1 | grep -v "W[0-9]\{4\} " | tee "$out/dance_next.txt"
    timeout 190 python3 bench/dance.py --cuda-graph --channels-last --compile --dtype bf16 \
      --batch 1 --modes compile-cl+graph --profile 2>&1 | grep -v "W[0-9]\{4\} " | tee -a "$out/dance_next.txt"
    ;;
  dance-taps)  # issue 15: compiled stereo stage at the pipeline's batch (21 windows), cuDNN's depthwise
    # resampling against pointwise taps that inductor fuses, with a kernel profile of each; then cudnn.benchmark.
    timeout 440 python3 bench/dance.py --cuda-graph --channels-last --compile --taps --dtype bf16 --batch 21 \
      --modes compile-cl+graph,compile-cl-taps+graph --iters 10 --profile 2>&1 | grep -v "W[0-9]\{4\} " \
      | tee "$out/dance_taps.txt"
    timeout 130 python3 bench/dance.py --cuda-graph --channels-last --compile --taps --dtype bf16 --batch 21 \
      --modes compile-cl-taps+graph --iters 10 --cudnn-benchmark 2>&1 | grep -v "W[0-9]\{4\} " \
      | tee -a "$out/dance_taps.txt"
    ;;
  gn-stats)  # issue 15: the compiled GroupNorm statistics (40 % of the compiled stereo stage's GPU time)
    timeout 220 python3 bench/groupnorm.py 2>&1 | grep -v "W[0-9]\{4\} " | tee "$out/groupnorm.txt"
    timeout 350 python3 bench/dance.py --cuda-graph --channels-last --compile --dtype bf16 --batch 21 \
      --gn-stats "${GN_STATS:-flat,sums}" --modes "${GN_MODES:-compile-cl-taps-flat+graph,compile-cl-taps-sums+graph}" \
      --iters 10 2>&1 | grep -v "W[0-9]\{4\} " | tee -a "$out/groupnorm.txt"
    ;;
  fast-cold)  # issue 15: the compiled fast path's first request and warm runs (fills inductor's cache
    # on this machine for "final"); TORCH_LOGS=recompiles names any recompile.
    TORCH_LOGS=recompiles timeout 575 python3 bench/generate.py --modes fast-compile --repeat-fast --dd-batch 24 \
      --out "$out/generate_fast.json" 2>&1 | grep -v "W[0-9]\{4\} " | tee "$out/generate_fast.txt"
    ;;
  fast-b1)  # issue 15: the compiled fast path cold and warm (fills inductor's cache for "final"), then
    # Dance Diffusion's batch-1 call compiled with its profile (the 5 ms target).
    timeout 470 python3 bench/generate.py --modes fast-compile --repeat-fast --dd-batch 24 \
      --out "$out/generate_fast.json" 2>&1 | grep -v "W[0-9]\{4\} " | tee "$out/generate_fast.txt"
    timeout 120 python3 bench/dance.py --cuda-graph --channels-last --compile --taps --dtype bf16 --batch 1 \
      --modes compile-cl-taps+graph --iters 20 --profile 2>&1 | grep -v "W[0-9]\{4\} " | tee "$out/dance_b1.txt"
    ;;
  fast-weights)  # issue 15, next: Dance Diffusion reading bf16 weight buffers instead of casting its
    # weights every call (0.65 ms of the 5.9 ms GPU time at batch 1); batch 1 both ways with kernel
    # profiles grouped by kind, batch 1 with inductor's coordinate-descent tuning, then batch 21.
    timeout 250 python3 bench/dance.py --cuda-graph --channels-last --compile --taps --fast-weights --dtype bf16 \
      --batch 1 --modes compile-cl-taps+graph,compile-cl-taps-fw+graph --iters 50 --profile 2>&1 \
      | grep -v "W[0-9]\{4\} " | tee "$out/fast_weights.txt"
    timeout 170 python3 bench/dance.py --cuda-graph --channels-last --compile --taps --fast-weights --dtype bf16 \
      --batch 1 --modes compile-cl-taps-fw+graph --iters 50 --inductor coordinate_descent_tuning=1 2>&1 \
      | grep -v "W[0-9]\{4\} " | tee -a "$out/fast_weights.txt"
    timeout 150 python3 bench/dance.py --cuda-graph --channels-last --compile --taps --fast-weights --dtype bf16 \
      --batch 21 --modes compile-cl-taps-fw+graph --iters 10 2>&1 | grep -v "W[0-9]\{4\} " | tee -a "$out/fast_weights.txt"
    ;;
  b1-knobs)  # issue 15, batch 1 at 5.28 ms with cudnn.benchmark: inductor settings that cut kernels or
    # gaps (one-kernel cooperative reductions instead of split ones; autotuned conv/GEMM templates with
    # prologue and epilogue fusion; horizontal combo kernels), each with its kernel profile.
    b1="bench/dance.py --cuda-graph --channels-last --compile --taps --fast-weights --dtype bf16 --batch 1 --iters 50
        --profile --cudnn-benchmark --modes compile-cl-taps-fw+graph"
    for knobs in "" triton.cooperative_reductions=1 max_autotune=1 combo_kernels=1; do
      case "$knobs" in max_autotune*) limit=250;; "") limit=110;; *) limit=115;; esac
      echo "=== knobs: ${knobs:-none}" | tee -a "$out/b1_knobs.txt"
      timeout $limit python3 $b1 ${knobs:+--inductor $knobs} 2>&1 | grep -v "W[0-9]\{4\} " >> "$out/b1_knobs.txt"
    done
    grep -h "^===\|^compile\|^kernel group\|^conv \|^triton\|^gemm\|^attention\|^total\|rror" "$out/b1_knobs.txt"
    ;;
  gn-chunks)  # issue 15: GroupNorm statistics with inductor's split reductions off: short rows in one
    # kernel that can also normalise, long rows split explicitly (stats "chunks"); batch 1 against
    # the shipped path for two row limits, then batch 21 (the pipeline's) with the first.
    b="bench/dance.py --cuda-graph --channels-last --compile --taps --fast-weights --dtype bf16 --cudnn-benchmark"
    chunks="--gn-stats chunks --inductor split_reductions=0 --modes compile-cl-taps-fw-chunks+graph"
    for run in "--batch 1 --iters 50 --profile --modes compile-cl-taps-fw+graph" \
               "--batch 1 --iters 50 --profile $chunks --gn-min-row ${ROW_A:-131072}" \
               "--batch 1 --iters 50 --profile $chunks --gn-min-row ${ROW_B:-524288}" \
               "--batch 21 --iters 10 $chunks --gn-min-row ${ROW_A:-131072}"; do
      echo "=== $run" | tee -a "$out/gn_chunks.txt"
      timeout 125 python3 $b $run 2>&1 | grep -v "W[0-9]\{4\} " >> "$out/gn_chunks.txt"
    done
    grep -h "^===\|^compile\|^kernel group\|^conv \|^triton\|^gemm\|^attention\|^total\|^other\|rror" "$out/gn_chunks.txt"
    ;;
  split-k)  # issue 15, batch 1: the deep levels' convs (84 cuDNN kernels of 64x64 tiles at 8.6 us) as one
    # batched GEMM over the taps each (blocks.conv_as_gemm), each run with its kernel profile. RUNS: N
    # (batch-1 convs at levels <= N samples as GEMMs: 0 = cuDNN everywhere, the path before session 9;
    # 1024 = as shipped since), optionally N/key=value for an inductor setting; EXTRA: more
    # bench/dance.py flags for every run.
    b="bench/dance.py --cuda-graph --channels-last --compile --taps --fast-weights --dtype bf16 --batch 1 --iters 50 --profile ${EXTRA:-}"
    for spec in ${RUNS:-0 512 1024 0}; do
      n=${spec%%/*}; knob=; [ "$spec" = "$n" ] || knob="--inductor ${spec#*/}"
      echo "=== g$n $knob" | tee -a "$out/split_k.txt"
      timeout ${LIMIT:-180} python3 $b --small-gemm $n --modes compile-cl-taps-fw-g$n+graph $knob 2>&1 \
        | grep -v "W[0-9]\{4\} " >> "$out/split_k.txt"
    done
    grep -h "^===\|^compile\|^kernel group\|^conv \|^triton\|^gemm\|^attention\|^total\|^other\|^cast\|rror" "$out/split_k.txt"
    ;;
  b1-tuning)  # issue 15, session 10: the pipeline's batch-1 stereo call against the session-9 path, then
    # which of its three changes costs 6 % at batch 21, e.g. BATCH=21 VARIANTS=pdl,align+fold+any-batch.
    # BATCH (default 1) and VARIANTS (default s9) pick the run; one compile takes about 2 minutes, so
    # keep to three variants per call.
    timeout ${LIMIT:-560} python3 bench/dance.py --cuda-graph --channels-last --compile --taps --fast-weights \
      --dtype bf16 --batch "${BATCH:-1}" --iters "${ITERS:-50}" --variants "${VARIANTS:-s9}" --modes \
      "compile-cl-taps-fw+graph$(for v in $(echo "${VARIANTS:-s9}" | tr , ' '); do printf ',compile-cl-taps-fw-%s+graph' "$v"; done)" \
      2>&1 | grep -v "W[0-9]\{4\} " | tee "$out/b1_tuning.txt" | grep "^compile\|^difference\|rror"
    ;;
  per-call)  # issue 15's per-call Done-when row in one call: the level U-Net (guided pair) at batch 1
    # and 16, then the stereo stage at batch 8, both as the compiled fast path runs them, bf16
    # (the stereo stage's batch 1 is b1-tuning's first row).
    timeout 300 python3 bench/unet.py --cuda-graph --compile --no-eager --dtype bf16 --batch 1 16 --no-flops 2>&1 \
      | grep -v "W[0-9]\{4\} " | tee "$out/per_call_unet.txt"
    timeout 250 python3 bench/dance.py --cuda-graph --channels-last --compile --taps --fast-weights --dtype bf16 \
      --batch 8 --iters 20 --modes compile-cl-taps-fw+graph 2>&1 | grep -v "W[0-9]\{4\} " | tee "$out/per_call_dance.txt"
    ;;
  final)  # issue 15's one-run table: plain, graphs-only baseline, compiled fast path (cold, warm).
    # Run on a warm machine right after generate-compile: inductor's cache (/tmp) then makes the
    # cold compile short enough for one device call.
    timeout 580 python3 bench/generate.py --modes "${MODES:-plain,graphs,fast-compile}" --repeat-fast --dd-batch 24 \
      --out "$out/generate_final.json" 2>&1 | grep -v "W[0-9]\{4\} " | tee "$out/generate_final.txt"
    ;;
  final-x2)  # issue 15: the one-run table on GPU 0; on GPU 1 the compiled stereo stage in the default
    # layout against channels-last at the pipeline's batch (21 windows in one call), with plain for SNR.
    ( CUDA_VISIBLE_DEVICES=1 timeout 560 python3 bench/generate.py --modes plain,fast-compile-ncl --repeat-fast \
        --dd-batch 24 --out "$out/generate_ncl.json" > "$out/generate_ncl.txt" 2>&1 ) &
    CUDA_VISIBLE_DEVICES=0 timeout 560 python3 bench/generate.py --modes plain,graphs,fast-compile --repeat-fast \
      --dd-batch 24 --out "$out/generate_final.json" > "$out/generate_final.txt" 2>&1
    wait
    grep -h "^device\|^fast\|^plain\|^graphs\|^equiv\|Error\|error" "$out"/generate_final.txt "$out"/generate_ncl.txt \
      | grep -v "W[0-9]\{4\} " | tail -40
    ;;
  train)
    timeout 300 python3 bench/train.py "${@:2}" 2>&1 | tee "$out/train.txt"
    ;;
esac
