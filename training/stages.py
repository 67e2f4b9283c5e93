"""The three training jobs (level U-Net, Dance Diffusion, VQ-VAE) as plain functions of a settings object.

The CLIs (``jbdiff train``, ``jbdiff train-vqvae``) and the demo recipe build these settings and
call ``train_level`` / ``train_dance`` / ``train_vqvae``; everything else (data, model, resume,
demos, validation) is decided here, once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.utils.data
from torch import nn

from jbdiff.config import ModelConfig
from jbdiff.errors import CheckpointError, ConfigError
from jbdiff.models import build_dance, build_unet, build_vqvae
from training import checkpoints as ckpts
from training.banks import Bank, BankBatches, audio_bank
from training.callbacks import Periodic
from training.data.dataset import AudioChunkDataset
from training.data.errors import DataError
from training.runner import FitResult, RunOptions, accelerator_for, fit
from training.settings import StageSettings
from training.streams import EpochIndexed, ItemStream, StreamPosition, StreamSampler

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------- helpers


def _compute_device(run: RunOptions) -> torch.device:
    """The device this process trains on (for pre-encoding caches before Lightning starts)."""
    acc = accelerator_for(run.device, run.devices)
    if acc == "gpu":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device(acc)


def _datasets(s: StageSettings, chunk: int, context_mult: int, channels: int
              ) -> tuple[AudioChunkDataset, AudioChunkDataset | None]:
    d = s.data
    kw = dict(chunk_samples=chunk, context_mult=context_mult, channels=channels, val_fraction=d.val_fraction,
              seed=d.seed, cache_dir=d.cache_dir)
    train = AudioChunkDataset(d.train_data, split="train", aug_shift=d.aug_shift, **kw)
    try:
        val = AudioChunkDataset(d.train_data, split="val", aug_shift=False, **kw)
    except DataError as exc:
        log.info("no validation split (%s)", exc)
        val = None
    return train, val


def _loader(s: StageSettings, dataset: AudioChunkDataset, bank: Bank | None, position: StreamPosition,
            device: torch.device) -> torch.utils.data.DataLoader:
    """Endless micro-batches: flat starts from a device bank, or items from the dataset."""
    if bank is not None:
        stream = ItemStream(bank.num_items, s.batch_size, seed=s.data.seed, position=position)
        return torch.utils.data.DataLoader(BankBatches(bank, stream), batch_size=None, num_workers=0)
    stream = ItemStream(len(dataset), s.batch_size, seed=s.data.seed, position=position)
    workers = s.data.num_workers
    return torch.utils.data.DataLoader(
        EpochIndexed(dataset), batch_size=s.batch_size, sampler=StreamSampler(stream), num_workers=workers,
        pin_memory=device.type == "cuda", persistent_workers=workers > 0,
    )


def _val_batches(dataset: AudioChunkDataset | None, n: int, batch: int) -> list[dict]:
    """Fixed validation items (evenly spread over the split), batched."""
    if dataset is None or n <= 0:
        return []
    idx = np.unique(np.linspace(0, len(dataset) - 1, min(n, len(dataset))).round().astype(int))
    items = [dataset[int(i)] for i in idx]
    out = []
    for k in range(0, len(items), batch):
        group = items[k:k + batch]
        out.append({key: torch.from_numpy(np.stack([g[key] for g in group])) for key in ("audio", "context")})
    return out


def _resume_file(s: StageSettings, kind: str, level: int | None = None):
    """(path, checkpoint dict, ours, full) of --resume-network-pkl, or Nones."""
    if s.resume is None:
        return None, None, False, False
    path = ckpts.latest(s.resume)
    ckpt = ckpts.read(path)
    ours = ckpts.check_kind(ckpt, path, kind, level)
    return path, ckpt, ours, ours and ckpts.resumable(ckpt)


def _model_config(s: StageSettings, ckpt: dict | None, ours: bool):
    """A checkpoint of ours describes its model: its config wins over --config (with a warning if they differ)."""
    stored = ckpts.model_config_of(ckpt) if ours else None
    if stored is None:
        return s.model_cfg
    if stored != s.model_cfg:
        log.warning("using the model config stored in the checkpoint (it differs from --config)")
    return stored


def _demo_and_val_callbacks(s: StageSettings, demo_fn, val_fn) -> list:
    cbs = []
    if s.demo.every > 0 and s.demo.num > 0:
        cbs.append(Periodic(s.demo.every, demo_fn, name="demo"))
    if val_fn is not None:
        cbs.append(Periodic(s.val_every, val_fn, name="validation", at_start=True, at_end=True))
    return cbs


def _log_metric(trainer, name: str, value: float, step: int) -> None:
    for lg in trainer.loggers:
        lg.log_metrics({name: value}, step=step)


@contextlib.contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Initialise networks from `seed` (same --seed, same starting weights) and leave the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# ------------------------------------------------------------------------------- VQ-VAE weights


def load_frozen_vqvae(model_cfg: ModelConfig, path: Path | None, checkpoint: dict | None = None) -> nn.Module:
    """The VQ-VAE a level trains on: from the resume checkpoint, --vqvae, or (tiny preset) seeded random."""
    from jbdiff.level_checkpoint import split_level_checkpoint
    from jbdiff.vqvae.checkpoint import load_vqvae_weights

    vqvae = build_vqvae(model_cfg.vqvae)
    if checkpoint is not None:
        try:
            _, vq_state = split_level_checkpoint(checkpoint)
        except CheckpointError:
            vq_state = {}
        if vq_state:
            load_vqvae_weights(vqvae, vq_state)
            return vqvae
    if path is not None:
        load_vqvae_weights(vqvae, Path(path))
        return vqvae
    if model_cfg.vqvae.preset == "tiny":
        from jbdiff.models import tiny_models

        log.info("no --vqvae: using the seeded random tiny VQ-VAE (the one Pipeline.tiny() uses)")
        vqvae.load_state_dict(tiny_models(0).vqvae.state_dict())
        return vqvae
    raise ConfigError(
        "training a level needs VQ-VAE weights: pass --vqvae FILE (OpenAI's vqvae.pth.tar, a jbdiff level "
        "checkpoint, or a `jbdiff train-vqvae` checkpoint); only the tiny preset trains on random VQ-VAE weights"
    )


# ------------------------------------------------------------------------------- level


def train_level(s: StageSettings) -> FitResult:
    """Train one level's U-Net (the seed's train.py, with the fixes and options documented in docs)."""
    from jbdiff.level_checkpoint import load_level_unet
    from training.demos import demo_clips, level_demo, write_demo
    from training.latents import level_code_bank
    from training.level_module import LevelDiffusionModule

    level = s.level
    path, ckpt, ours, full = _resume_file(s, "level", level)
    model_cfg = _model_config(s, ckpt, ours)
    if level not in model_cfg.diffusion:
        raise ConfigError(f"--jb-level {level}: the model config has no diffusion.{level} section")
    vq = model_cfg.vqvae
    vqvae = load_frozen_vqvae(model_cfg, s.vqvae_path, ckpt)
    hops = vqvae.hop_lengths
    if level >= len(hops):
        raise ConfigError(f"--jb-level {level}: this VQ-VAE has levels 0..{len(hops) - 1}")
    if level + 1 < len(hops) and (vq.base_tokens * hops[level]) % hops[level + 1]:
        raise ConfigError(f"model.vqvae.base_tokens {vq.base_tokens}: a level-{level} chunk must be a whole number "
                          f"of level-{level + 1} frames (base_tokens must be a multiple of "
                          f"{hops[level + 1] // hops[level]})")
    with seeded_init(s.seed):
        unet = build_unet(model_cfg.diffusion[level], model_cfg.embedding_max_length(level))
    warm = s.init_weights or (path if (path is not None and not full) else None)
    if warm is not None:
        load_level_unet(unet, ckpts.read(warm) if warm != path else ckpt)
        log.info("warm start from the weights in %s (optimizer and step start fresh)", warm)
    device = _compute_device(s.run)
    chunk = vq.base_tokens * hops[level]
    train_ds, val_ds = _datasets(s, chunk, vq.context_mult, channels=1)
    position = StreamPosition()
    bank = None
    if s.cache_latents:
        files = [train_ds.file_audio(i) for i in range(len(train_ds.files))]
        cache_file = (s.data.cache_dir / f"latents-level{level}.pt") if s.data.cache_dir else None
        bank = level_code_bank(vqvae, model_cfg, level, files, shifts=s.cache_shifts, seed=s.data.seed,
                               aug_shift=s.data.aug_shift, device=device, cache_file=cache_file)
    module = LevelDiffusionModule(level=level, model_cfg=model_cfg, vqvae=vqvae, unet=unet, lr=s.lr,
                                  ema_decay=s.ema_decay, seed=s.seed, position=position, code_bank=bank,
                                  embedding_mask_proba=s.embedding_mask_proba)
    loader = _loader(s, train_ds, bank, position, device)
    val_batches = _val_batches(val_ds, s.val_items, s.batch_size)
    demo_src = val_ds or train_ds
    windows = max(1, int(np.ceil(s.demo.seconds * 44100 / chunk)))
    clips = demo_clips(demo_src, s.demo.num, module.context_tokens * hops[level] + windows * chunk) \
        if s.demo.every > 0 and s.demo.num > 0 else None
    demo_dir = s.run.out_dir / "demos"
    results: dict = {}

    def demo_fn(trainer, mod, step):
        parts = level_demo(mod, clips, seconds=s.demo.seconds, steps=s.demo.steps,
                           scale=s.demo.embedding_weight, seed=s.seed)
        what = "context | continuation" if not mod.upsampler else "real | level above | refined"
        wav = write_demo(demo_dir, f"level{level}-step{step:08d}", parts, f"level {level}, step {step}: {what}")
        log.info("demo written: %s (%s)", wav, what)

    def val_fn(trainer, mod, step):
        value = mod.eval_loss(val_batches)
        results.setdefault("val_loss_start", value)
        results["val_loss"] = value
        results["val_step"] = step
        _log_metric(trainer, "val/loss", value, step)
        log.info("level %d step %d: validation v-loss (EMA) %.5f", level, step, value)

    cbs = _demo_and_val_callbacks(s, demo_fn, val_fn if val_batches else None)
    run = s.run.replace(prefix=f"level{level}")
    result = fit(module, loader, run, run_name=f"level{level}", ckpt_path=path if full else None, callbacks=cbs)
    result.extra.update(results)
    return result


# ------------------------------------------------------------------------------- Dance Diffusion


def train_dance(s: StageSettings) -> FitResult:
    """Train the stereo stage as sample-generator's train_uncond.py does."""
    from jbdiff.dance.checkpoint import load_dance_weights
    from training.dance_module import DanceModule
    from training.demos import demo_clips, write_demo

    path, ckpt, ours, full = _resume_file(s, "dd")
    model_cfg = _model_config(s, ckpt, ours)
    with seeded_init(s.seed):
        net = build_dance(model_cfg.dd)
    if net.valid_length(s.sample_length) != s.sample_length:
        raise ConfigError(f"--sample-length {s.sample_length}: Dance Diffusion needs a multiple of "
                          f"{net.length_multiple} >= {net.min_length} (e.g. {net.valid_length(s.sample_length)})")
    warm = s.init_weights or (path if (path is not None and not full) else None)
    ema_state = None
    if warm is not None:
        src = ckpts.read(warm) if warm != path else ckpt
        load_dance_weights(net, src, use_ema=not _has_prefix(src, "diffusion."))
        ema_state = _ema_state(src)
        log.info("warm start from the weights in %s (optimizer and step start fresh)", warm)
    device = _compute_device(s.run)
    train_ds, val_ds = _datasets(s, s.sample_length, 0, channels=2)
    position = StreamPosition()
    bank = audio_bank(train_ds, channels=2, chunk=s.sample_length, seed=s.data.seed,
                      aug_shift=s.data.aug_shift) if s.cache_audio else None
    module = DanceModule(model_cfg=model_cfg, net=net, lr=s.lr, ema_decay=s.ema_decay, seed=s.seed,
                         position=position, audio_bank=bank)
    if ema_state is not None:
        module.diffusion_ema.load_state_dict(ema_state)
    loader = _loader(s, train_ds, bank, position, device)
    val_batches = _val_batches(val_ds, s.val_items, s.batch_size)
    clips = demo_clips(val_ds or train_ds, s.demo.num, s.sample_length) if s.demo.every > 0 and s.demo.num > 0 else None
    results: dict = {}

    def demo_fn(trainer, mod, step):
        parts = mod.demo(clips, steps=s.demo.steps, seed=s.seed)
        wav = write_demo(s.run.out_dir / "demos", f"dd-step{step:08d}", parts,
                         f"Dance Diffusion, step {step}: mono input | refined | from noise")
        log.info("demo written: %s", wav)

    def val_fn(trainer, mod, step):
        value = mod.eval_loss(val_batches)
        results.setdefault("val_loss_start", value)
        results["val_loss"], results["val_step"] = value, step
        _log_metric(trainer, "val/loss", value, step)
        log.info("dd step %d: validation v-loss (EMA) %.5f", step, value)

    cbs = _demo_and_val_callbacks(s, demo_fn, val_fn if val_batches else None)
    result = fit(module, loader, s.run.replace(prefix="dd"), run_name="dd", ckpt_path=path if full else None,
                 callbacks=cbs)
    result.extra.update(results)
    return result


def _has_prefix(ckpt: dict, prefix: str) -> bool:
    state = ckpt.get("state_dict", ckpt)
    return any(isinstance(k, str) and k.startswith(prefix) for k in state)


def _ema_state(ckpt: dict) -> dict | None:
    from jbdiff.dance.checkpoint import EMA_PREFIX

    state = ckpt.get("state_dict", ckpt)
    ema = {k[len(EMA_PREFIX):]: v for k, v in state.items() if isinstance(k, str) and k.startswith(EMA_PREFIX)}
    return ema or None


# ------------------------------------------------------------------------------- VQ-VAE


def train_vqvae(s: StageSettings) -> FitResult:
    """Train (or fine-tune) a VQ-VAE of the config's shape on one's own music."""
    from jbdiff.vqvae.checkpoint import load_vqvae_weights
    from jbdiff.vqvae.losses import estimate_bandwidth
    from training.demos import demo_clips, write_demo
    from training.metrics import vqvae_metrics
    from training.vqvae_module import VQVAEModule

    path, ckpt, ours, full = _resume_file(s, "vqvae")
    model_cfg = _model_config(s, ckpt, ours)
    with seeded_init(s.seed):
        vqvae = build_vqvae(model_cfg.vqvae)
    top = max(vqvae.hop_lengths)
    if s.sample_length % top or s.sample_length < 2048:
        raise ConfigError(f"--sample-length {s.sample_length}: must be a multiple of the largest hop ({top}) "
                          "and >= 2048 (the spectral losses' longest window)")
    warm = s.init_weights or s.vqvae_path or (path if (path is not None and not full) else None)
    if warm is not None:
        load_vqvae_weights(vqvae, ckpts.read(warm) if warm != path else ckpt)
        vqvae.restore_codebooks(s.sample_length * s.batch_size, world_size=s.run.devices * s.run.num_nodes)
        log.info("fine-tuning the VQ-VAE weights from %s", warm)
    device = _compute_device(s.run)
    train_ds, val_ds = _datasets(s, s.sample_length, 0, channels=1)
    bw_items = _val_batches(train_ds, 64, 64)
    bandwidth = estimate_bandwidth(list(bw_items[0]["audio"])) if bw_items else None
    position = StreamPosition()
    bank = audio_bank(train_ds, channels=1, chunk=s.sample_length, seed=s.data.seed,
                      aug_shift=s.data.aug_shift) if s.cache_audio else None
    module = VQVAEModule(model_cfg=model_cfg, vqvae=vqvae, bandwidth=bandwidth, lr=s.lr, seed=s.seed,
                         position=position, audio_bank=bank)
    loader = _loader(s, train_ds, bank, position, device)
    val_batches = _val_batches(val_ds, s.val_items, s.batch_size)
    clips = demo_clips(val_ds or train_ds, s.demo.num, min(s.sample_length * 4, 44100 * 6)) \
        if s.demo.every > 0 and s.demo.num > 0 else None
    results: dict = {}

    def demo_fn(trainer, mod, step):
        parts = mod.demo(clips)
        wav = write_demo(s.run.out_dir / "demos", f"vqvae-step{step:08d}", parts,
                         f"VQ-VAE, step {step}: real | level 0 | level 1 | level 2")
        log.info("demo written: %s", wav)

    def val_fn(trainer, mod, step):
        if not all(b.init for b in mod.vqvae.bottleneck.level_blocks):
            return  # codebooks are set from the first batch: nothing to measure before it
        audio = torch.cat([b["audio"] for b in val_batches])
        metrics = vqvae_metrics(mod.vqvae, audio.mean(1), device=mod.device)
        results.setdefault("val_metrics_start", metrics)
        results["val_metrics"], results["val_step"] = metrics, step
        for lvl, m in metrics.items():
            for k, v in m.items():
                _log_metric(trainer, f"val/{k}_l{lvl}", v, step)
        log.info("vqvae step %d: validation %s", step, metrics)

    cbs = _demo_and_val_callbacks(s, demo_fn, val_fn if val_batches else None)
    result = fit(module, loader, s.run.replace(prefix="vqvae"), run_name="vqvae", ckpt_path=path if full else None,
                 callbacks=cbs)
    result.extra.update(results)
    return result
