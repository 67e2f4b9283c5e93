#!/usr/bin/env bash
# Multi-GPU measurements for issue 14 on nvidia-h100-x2, one device call per phase.
#   bash bench/x2_scaling.sh train    # DDP scaling of the full level-2 U-Net: 1 GPU, then 2 (plain, tuned, bf16)
#   bash bench/x2_scaling.sh server   # jbdiff serve: 1 GPU worker process against 2
#   bash bench/x2_scaling.sh kernels  # conv1d layouts and the Dance Diffusion profile (one GPU)
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  > /dev/null 2>&1  # the device image lacks soundfile & co: carry .whl (see /work/.library/device/README.md)
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site:. NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
nvidia-smi --query-gpu=index,name,memory.total,clocks.max.sm --format=csv,noheader
tb() { timeout 170 python3 bench/train.py --steps "${STEPS:-15}" "$@" 2>&1 | grep -E "^\||^device|Error|error" ; }
case "${1:-train}" in
  train)
    CUDA_VISIBLE_DEVICES=0 tb --devices 1
    tb --devices 2 --ddp plain
    tb --devices 2 --ddp tuned
    tb --devices 2 --ddp tuned --grad-comm bf16
    ;;
  kernels)
    export CUDA_VISIBLE_DEVICES=0
    timeout 100 python3 bench/conv1d.py --cudnn-benchmark 2>&1
    timeout 150 python3 bench/dance.py --dtype bf16 --batch 1,8 --cuda-graph --channels-last --profile 2>&1 \
      | grep -v "^INFO" | head -80
    ;;
  server)
    timeout 560 python3 bench/server_workers.py --workers cuda:0 --workers cuda:0,cuda:1 --jobs "${JOBS:-8}" 2>&1 \
      | grep -v "^INFO"
    ;;
esac
