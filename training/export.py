"""``python -m training.export``: trained checkpoints -> one compact model bundle (EMA weights only).

With ``--from-bundle`` it re-writes an existing bundle with the --config's sampling settings instead
(the same tensors, bit for bit): how a tuned sampling config ships without retraining.

Takes the VQ-VAE (a train-vqvae checkpoint, or the one inside the level checkpoints), the three
level checkpoints (their EMA U-Nets, which is what their state_dict holds) and the Dance
Diffusion checkpoint (its ``diffusion_ema``), and writes ``jbdiff.bundle.save_bundle``'s file
with the model and sampling configs in its metadata, plus the ``.sha256`` sidecar.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from jbdiff.bundle import DTYPES, model_sizes, save_bundle
from jbdiff.config import ModelConfig, SamplingConfig, load_config
from jbdiff.errors import CheckpointError, ConfigError, JbdiffError
from jbdiff.models import LoadedModels, build_dance, build_unet, build_vqvae
from training import checkpoints as ckpts

log = logging.getLogger(__name__)


def export_bundle(out: Path, *, model_cfg: ModelConfig, sampling_cfg: SamplingConfig,
                  levels: dict[int, Path], vqvae: Path | None = None, dd: Path | None = None,
                  dtype: str = "float16", name: str = "demo") -> tuple[str, LoadedModels]:
    """Load the checkpoints into fresh networks and save the bundle; returns (sha256, models)."""
    from jbdiff.dance.checkpoint import load_dance_weights
    from jbdiff.level_checkpoint import load_level_unet, split_level_checkpoint
    from jbdiff.vqvae.checkpoint import load_vqvae_weights
    from training.latents import state_digest

    if not levels:
        raise ConfigError("export: give at least one level checkpoint")
    vq = build_vqvae(model_cfg.vqvae)
    unets, vq_digests = {}, {}
    for lvl, path in sorted(levels.items(), reverse=True):
        path = ckpts.latest(path)
        ckpt = ckpts.read(path)
        ckpts.check_kind(ckpt, path, "level", lvl)
        unet = build_unet(model_cfg.diffusion[lvl], model_cfg.embedding_max_length(lvl))
        load_level_unet(unet, ckpt)
        unets[lvl] = unet
        _, vq_state = split_level_checkpoint(ckpt)
        if vq_state:
            probe = build_vqvae(model_cfg.vqvae)
            load_vqvae_weights(probe, vq_state)
            vq_digests[lvl] = (state_digest(probe), vq_state)
    if vqvae is not None:
        load_vqvae_weights(vq, ckpts.read(ckpts.latest(vqvae)))
    elif vq_digests:
        load_vqvae_weights(vq, next(iter(vq_digests.values()))[1])
    else:
        raise CheckpointError("export: no VQ-VAE weights (pass --vqvae, or level checkpoints that hold vqvae.*)")
    mine = state_digest(vq)
    for lvl, (digest, _) in vq_digests.items():
        if digest != mine:
            log.warning("level %d was trained with a different VQ-VAE than the one exported", lvl)
    dance = None
    if dd is not None:
        dance = build_dance(model_cfg.dd)
        load_dance_weights(dance, ckpts.read(ckpts.latest(dd)))
    models = LoadedModels(vq, unets, dance, model_cfg, sampling_cfg, name=name)
    digest = save_bundle(out, models, dtype=dtype, name=name)
    log.info("parameters: %s", ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in model_sizes(models).items()))
    return digest, models


def resample_bundle(src: Path, out: Path, *, sampling_cfg: SamplingConfig, dtype: str = "float16",
                    name: str = "demo") -> str:
    """Write ``src``'s weights again with another sampling config; returns the new SHA-256."""
    from jbdiff.bundle import load_bundle

    if src.resolve() == out.resolve():
        raise ConfigError(f"export: --out {out} is the --from-bundle file; write a new file, then replace it")
    return save_bundle(out, load_bundle(src, sampling_cfg=sampling_cfg, name=name), dtype=dtype, name=name)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="YAML with model (and sampling) sections, e.g. configs/demo.yaml")
    p.add_argument("--sampling-config", help="sampling settings to store (default: the --config's sampling)")
    p.add_argument("--vqvae", type=Path, help="train-vqvae checkpoint (default: the VQ-VAE in the level files)")
    for lvl in (2, 1, 0):
        p.add_argument(f"--level{lvl}", type=Path, help=f"level-{lvl} checkpoint (file or folder: newest)")
    p.add_argument("--dd", type=Path, help="Dance Diffusion checkpoint (file or folder: newest)")
    p.add_argument("--from-bundle", type=Path, help="re-write this bundle's weights with --config's sampling")
    p.add_argument("--out", type=Path, required=True, help="bundle file (.safetensors)")
    p.add_argument("--dtype", default="float16", choices=sorted(DTYPES))
    p.add_argument("--name", default="demo", help="model name stored in the bundle")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        cfg = load_config(args.config)
        sampling = load_config(args.sampling_config).sampling if args.sampling_config else cfg.sampling
        if sampling is None:
            raise ConfigError(f"{args.config}: has no sampling section; pass --sampling-config")
        levels = {lvl: getattr(args, f"level{lvl}") for lvl in (2, 1, 0) if getattr(args, f"level{lvl}")}
        if args.from_bundle is not None:
            if levels or args.vqvae or args.dd:
                raise ConfigError("export: --from-bundle takes its weights from the bundle; "
                                  "drop --vqvae, --level0/1/2 and --dd")
            digest = resample_bundle(args.from_bundle, args.out, sampling_cfg=sampling, dtype=args.dtype,
                                     name=args.name)
        else:
            digest, _ = export_bundle(args.out, model_cfg=cfg.model, sampling_cfg=sampling, levels=levels,
                                      vqvae=args.vqvae, dd=args.dd, dtype=args.dtype, name=args.name)
    except JbdiffError as exc:
        print(f"export: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    print(f"{args.out}  sha256 {digest}  ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
