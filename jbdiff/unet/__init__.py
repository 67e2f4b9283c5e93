"""Level U-Net of Jukebox Diffusion: shape config, network, input errors."""

from jbdiff.unet.model import LevelUNet, UNetInputError
from jbdiff.unet.shape import RESNET_GROUPS, TINY_UNET, UNetShape

__all__ = ["RESNET_GROUPS", "TINY_UNET", "LevelUNet", "UNetInputError", "UNetShape"]
