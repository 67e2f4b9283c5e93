"""Dance Diffusion: the stereo stage that re-renders Jukebox Diffusion's mono decode."""

from .checkpoint import load_dance_weights
from .graph import CudaGraphModel
from .model import TINY_DANCE, DanceInputError, DanceShape, DanceUNet
from .sampling import dd_refine, to_stereo, v_ddim_sample
from .schedule import alpha_sigma_to_t, crash_schedule, refine_timesteps, t_to_alpha_sigma

__all__ = [
    "TINY_DANCE",
    "CudaGraphModel",
    "DanceInputError",
    "DanceShape",
    "DanceUNet",
    "alpha_sigma_to_t",
    "crash_schedule",
    "dd_refine",
    "load_dance_weights",
    "refine_timesteps",
    "t_to_alpha_sigma",
    "to_stereo",
    "v_ddim_sample",
]
