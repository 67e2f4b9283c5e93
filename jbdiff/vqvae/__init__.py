"""OpenAI Jukebox's VQ-VAE, reimplemented with the same tensor layout (loads published weights)."""

from jbdiff.vqvae.checkpoint import load_vqvae_weights
from jbdiff.vqvae.losses import Bandwidth, estimate_bandwidth
from jbdiff.vqvae.model import VQVAE
from jbdiff.vqvae.shapes import PRESETS, VQVAEShape

__all__ = ["PRESETS", "VQVAE", "Bandwidth", "VQVAEShape", "estimate_bandwidth", "load_vqvae_weights"]
