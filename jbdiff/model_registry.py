"""Models by name: ``demo`` (built in, the default), ``jbdiff-v1`` (published weights), ``tiny``
(random weights), ``random-v1`` (published shapes, random weights), a bundle or a config path.

One function, :func:`load_pipeline`, so the CLI, the server and the Max device's first run all
resolve ``--model`` the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

from jbdiff.config import load_config, load_sampling_config
from jbdiff.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "demo"

MODELS: dict[str, str] = {
    "demo": "the built-in demo model, trained here on free music (jbdiff/demo/MODEL_CARD.md); works offline",
    "tiny": "tiny random-weight models (configs/tiny.yaml): tests and trying the plumbing; makes noise",
    "jbdiff-v1": "the published Jukebox Diffusion v1 weights (jbdiff download jbdiff-v1)",
    "random-v1": "the published shapes with random weights: benchmarks and capacity tests; makes no music",
}
BUNDLE_SUFFIX = ".safetensors"
CONFIG_SUFFIXES = (".yaml", ".yml")


def is_model_file(name: str) -> bool:
    """Whether ``name`` names a model by file (a bundle or a YAML config) rather than by registry name."""
    return Path(name).suffix in (BUNDLE_SUFFIX, *CONFIG_SUFFIXES)


def describe_models() -> str:
    """One line per known model name, for help texts and errors."""
    return "; ".join(f"{k}: {v}" for k, v in MODELS.items())


def load_pipeline(model: str, device: str = "auto", sampling_config: str | None = None):
    """Build the Pipeline for a model name or a YAML path holding ``model`` and ``sampling``."""
    from jbdiff.device import pick_device
    from jbdiff.pipeline import Pipeline

    dev = pick_device(device)
    if model == "demo":
        from jbdiff.bundle import load_bundle
        from jbdiff.demo import DEMO_BUNDLE, DEMO_SHA256

        sampling = load_sampling_config(sampling_config) if sampling_config else None
        return Pipeline(load_bundle(DEMO_BUNDLE, expected_sha256=DEMO_SHA256, sampling_cfg=sampling, name="demo"), dev)
    if model == "tiny":
        pipe = Pipeline.tiny(device=dev)
        if sampling_config:
            pipe.models.sampling_cfg = load_sampling_config(sampling_config)
        return pipe
    if model == "random-v1":
        from jbdiff.models import random_models

        cfg = load_config("jbdiff-sample-v1")
        sampling = load_sampling_config(sampling_config) if sampling_config else cfg.sampling
        return Pipeline(random_models(cfg.model, sampling, seed=0, name="random-v1"), dev)
    if model == "jbdiff-v1":
        model_cfg = load_config("jbdiff-v1").model
        sampling = load_sampling_config(sampling_config or "jbdiff-sample-v1")
        base = Path(sampling_config).parent if sampling_config else None
        return Pipeline.from_config(model_cfg, sampling, dev, base_dir=str(base) if base else None, name="jbdiff-v1")
    path = Path(model)
    if path.suffix == BUNDLE_SUFFIX and path.exists():
        from jbdiff.bundle import load_bundle

        sampling = load_sampling_config(sampling_config) if sampling_config else None
        return Pipeline(load_bundle(path, sampling_cfg=sampling, name=path.stem), dev)
    if path.suffix in CONFIG_SUFFIXES and path.exists():
        cfg = load_config(path)
        sampling = load_sampling_config(sampling_config) if sampling_config else cfg.sampling
        if sampling is None:
            raise ConfigError(f"{path}: has no 'sampling' section; pass --config with one")
        return Pipeline.from_config(cfg.model, sampling, dev, base_dir=str(path.parent), name=str(path))
    raise ConfigError(f"model: {model!r} is not a known model, a .safetensors bundle or a YAML file "
                      f"(known: {describe_models()})")
