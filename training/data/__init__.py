"""Training data: the Debian free-music recipe and the chunk/context dataset the trainer reads."""

from training.data.dataset import AudioChunkDataset, EpochSampler, split_files
from training.data.errors import DataError
from training.data.recipe import RecipeConfig, build, build_from_unpacked

__all__ = [
    "AudioChunkDataset",
    "DataError",
    "EpochSampler",
    "RecipeConfig",
    "build",
    "build_from_unpacked",
    "split_files",
]
