"""Jukebox Diffusion: hierarchical latent diffusion for music, as a library."""

__version__ = "0.1.0"
