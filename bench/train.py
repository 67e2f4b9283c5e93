"""Training throughput of a level U-Net through the real trainer (LevelDiffusionModule + Lightning).

Examples:
  python bench/train.py                          # jbdiff-v1 level 2, batch 32, bf16 on CUDA, cached latents
  python bench/train.py --micro-batch 16         # batch 32 as 2 accumulated micro-batches of 16
  python bench/train.py --mode encode            # the seed's step: the VQ-VAE encodes audio every step
  python bench/train.py --devices 2              # DDP on 2 GPUs (each GPU takes the full batch)
  python bench/train.py --devices 2 --ddp plain  # Lightning's default DDP (what --ddp tuned improves on)
  python bench/train.py --devices 2 --profile    # also print rank 0's top CUDA kernels and CPU ops
  python bench/train.py --tiny --device cpu      # smoke test: tiny shapes, a few steps

Synthetic data (random codes / random audio; the speed does not depend on the content). `cached`
trains from codes held on the GPU (``jbdiff train --cache-latents``); `encode` feeds audio chunks
and their context through the frozen VQ-VAE each step (the seed's way, and ours without the cache).
Prints one table row: examples/s and seconds of audio/s over all devices, optimizer steps/s, and
peak memory per GPU. The first --warmup optimizer steps are not timed. Exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lightning as L  # noqa: E402

from jbdiff.config import load_config  # noqa: E402
from jbdiff.models import build_unet, build_vqvae  # noqa: E402
from training.banks import Bank, BankBatches  # noqa: E402
from training.distributed import make_strategy  # noqa: E402
from training.level_module import LevelDiffusionModule  # noqa: E402
from training.runner import accelerator_for, precision_for  # noqa: E402
from training.streams import ItemStream, StreamPosition  # noqa: E402

warnings.filterwarnings("ignore")


def sync(trainer) -> None:
    """Wait for the rank's GPU work, so wall-clock times cover it."""
    if trainer.strategy.root_device.type == "cuda":
        torch.cuda.synchronize(trainer.strategy.root_device)


class Clock(L.Callback):
    """Times optimizer steps after the warm-up; gathers peak memory of every rank."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.t0: float | None = None
        self.steps = 0
        self.micro = 0
        self.seconds = 0.0
        self.peaks: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup and self.t0 is None and (batch_idx + 1) % trainer.accumulate_grad_batches == 0:
            sync(trainer)
            self.t0 = time.perf_counter()
            self.start_step = trainer.global_step
            self.micro = 0
        elif self.t0 is not None:
            self.micro += 1

    def on_train_end(self, trainer, module) -> None:
        sync(trainer)
        if self.t0 is not None:
            self.seconds = time.perf_counter() - self.t0
            self.steps = trainer.global_step - self.start_step
        dev = trainer.strategy.root_device
        peak = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else 0.0
        gathered = trainer.strategy.all_gather(torch.tensor([peak], device=dev))
        self.peaks = gathered.flatten().tolist()


class Profile(L.Callback):
    """torch.profiler over `steps` batches from batch `start` on rank 0; prints the top ops by time."""

    def __init__(self, start: int, steps: int) -> None:
        self.start, self.steps, self.prof = start, steps, None

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.is_global_zero and batch_idx == self.start:
            acts = [torch.profiler.ProfilerActivity.CPU]
            if trainer.strategy.root_device.type == "cuda":
                acts.append(torch.profiler.ProfilerActivity.CUDA)
            self.prof = torch.profiler.profile(activities=acts)
            self.prof.__enter__()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.prof is not None and batch_idx == self.start + self.steps - 1:
            self._report(trainer)

    def on_train_end(self, trainer, module) -> None:
        if self.prof is not None:
            self._report(trainer)

    def _report(self, trainer) -> None:
        sync(trainer)
        self.prof.__exit__(None, None, None)
        sort = "cuda_time_total" if trainer.strategy.root_device.type == "cuda" else "cpu_time_total"
        print(f"profile of micro-batches {self.start}.. on rank 0 (sorted by {sort}):")
        print(self.prof.key_averages().table(sort_by=sort, row_limit=18, max_name_column_width=60))
        self.prof = None



class AudioBatches(torch.utils.data.IterableDataset):
    """The same random audio chunk + context every step (mono, as the VQ-VAE takes it)."""

    def __init__(self, batch: int, chunk: int, context: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.item = {"audio": 0.1 * torch.randn(batch, 1, chunk, generator=g),
                     "context": 0.1 * torch.randn(batch, 1, context, generator=g)}

    def __iter__(self):
        while True:
            yield self.item


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="jbdiff-v1", help="model config (default: the published shape)")
    ap.add_argument("--level", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32, help="examples per optimizer step per device (seed: 32)")
    ap.add_argument("--micro-batch", type=int, help="examples per forward (default: the batch size)")
    ap.add_argument("--steps", type=int, default=20, help="timed optimizer steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed optimizer steps first")
    ap.add_argument("--mode", choices=("cached", "encode"), default="cached")
    ap.add_argument("--devices", type=int, default=1)
    ap.add_argument("--device", default="auto", help="auto, cuda or cpu")
    ap.add_argument("--precision", default="auto", help="auto (bf16-mixed on CUDA), 32, bf16-mixed, 16-mixed")
    ap.add_argument("--ddp", choices=("tuned", "plain"), default="tuned",
                    help="tuned: the trainer's DDP (bucket-view gradients, static graph); plain: Lightning's 'ddp'")
    ap.add_argument("--grad-comm", choices=("fp32", "bf16"), default="fp32", help="gradient all-reduce precision")
    ap.add_argument("--profile", action="store_true", help="profile 5 timed steps on rank 0 and print the top ops")
    ap.add_argument("--tiny", action="store_true", help="configs/tiny.yaml, batch 4, 3 steps (smoke test)")
    args = ap.parse_args(argv)
    if args.tiny:
        args.config, args.batch_size, args.steps, args.warmup = "tiny", 4, 3, 1
    micro = args.micro_batch or args.batch_size
    if args.batch_size % micro:
        ap.error("--batch-size must be a multiple of --micro-batch")
    accumulate = args.batch_size // micro
    cfg = load_config(args.config).model
    vq_cfg, lvl = cfg.vqvae, args.level
    accelerator = accelerator_for(args.device, args.devices)
    precision = precision_for(args.precision, accelerator)
    torch.manual_seed(0)
    vqvae = build_vqvae(vq_cfg)
    with torch.no_grad():  # random codebooks (a zero codebook has no statistics to normalise by)
        for block in vqvae.bottleneck.level_blocks:
            block.k.normal_()
    unet = build_unet(cfg.diffusion[lvl], cfg.embedding_max_length(lvl))
    hop = vqvae.hop_lengths[lvl]
    ctx_tokens = cfg.embedding_max_length(lvl)
    position = StreamPosition()
    bank = None
    if args.mode == "cached":
        frames = ctx_tokens + 64 * vq_cfg.base_tokens
        codes = torch.randint(0, vqvae.bottleneck.level_blocks[lvl].l_bins, (frames,), dtype=torch.int16)
        arrays = {"x": codes}
        if lvl + 1 < vqvae.levels:
            arrays["noise"] = codes.roll(1)
        bank = Bank(arrays, [ctx_tokens], [frames - ctx_tokens], vq_cfg.base_tokens)
        loader = torch.utils.data.DataLoader(BankBatches(bank, ItemStream(bank.num_items, micro, position=position)),
                                             batch_size=None)
    else:
        chunk = vq_cfg.base_tokens * hop
        loader = torch.utils.data.DataLoader(AudioBatches(micro, chunk, vq_cfg.context_mult * chunk),
                                             batch_size=None, pin_memory=accelerator == "gpu")
    module = LevelDiffusionModule(level=lvl, model_cfg=cfg, vqvae=vqvae, unet=unet, position=position,
                                  code_bank=bank)
    clock = Clock(args.warmup)
    if args.ddp == "plain" and args.devices > 1:
        strategy = "ddp"
    else:
        strategy = make_strategy("auto", args.devices, grad_comm=args.grad_comm,
                                 static_graph=LevelDiffusionModule.static_graph)
    callbacks: list = [clock]
    if args.profile:
        callbacks.append(Profile(args.warmup + 1, 5))
    trainer = L.Trainer(accelerator=accelerator, devices=args.devices, strategy=strategy, precision=precision,
                        max_steps=args.warmup + args.steps, max_epochs=-1, accumulate_grad_batches=accumulate,
                        callbacks=callbacks, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, use_distributed_sampler=False, num_sanity_val_steps=0,
                        limit_val_batches=0)
    trainer.fit(module, loader)
    if trainer.is_global_zero:
        world = trainer.world_size
        examples = clock.steps * args.batch_size * world
        eps = examples / clock.seconds if clock.seconds else float("nan")
        audio_s = eps * vq_cfg.base_tokens * hop / 44100
        name = torch.cuda.get_device_name(0) if accelerator == "gpu" else f"cpu ({torch.get_num_threads()} threads)"
        params = sum(p.numel() for p in unet.parameters()) / 1e6
        ddp = f", DDP {args.ddp} grad-comm {args.grad_comm}" if world > 1 else ""
        print(f"device: {name} x {world}; config {args.config} level {lvl} ({params:.1f}M params), "
              f"mode {args.mode}, precision {precision}{ddp}")
        print("| devices | batch/device | micro-batch | steps | s | examples/s | audio s/s | steps/s | "
              "peak GiB per device |")
        print("|---|---|---|---|---|---|---|---|---|")
        peaks = ", ".join(f"{p:.1f}" for p in clock.peaks) if accelerator == "gpu" else "n/a"
        print(f"| {world} | {args.batch_size} | {micro} | {clock.steps} | {clock.seconds:.1f} | {eps:.1f} | "
              f"{audio_s:.1f} | {clock.steps / clock.seconds if clock.seconds else float('nan'):.2f} | {peaks} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
