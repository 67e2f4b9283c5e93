"""Test-wide settings."""

import torch

# Tiny CPU tensors: extra intra-op threads only add contention (10x slower on 2 shared cores).
torch.set_num_threads(1)
