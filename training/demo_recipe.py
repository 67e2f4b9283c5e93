"""``python -m training.demo_recipe``: the whole demo model in one command, each stage on a time budget.

VQ-VAE (train-vqvae) -> pre-encoded latents -> level 2, 1, 0 U-Nets -> Dance Diffusion -> fp16
bundle (``jbdiff.bundle``) + summary. Every stage stops at its wall-clock budget (and the budgets
shrink if the whole run would overrun ``--total-budget``), so one GPU command of fixed length
trains everything. A second command continues: ``--resume OUT`` picks up each stage's newest
checkpoint exactly (or warm-starts the levels when the VQ-VAE was trained further), and
``--init-bundle FILE`` warm-starts every stage from a previous bundle (``--fresh STAGE`` excepted,
e.g. a stage whose shape a variant config changes).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jbdiff.config import load_config
from jbdiff.errors import ConfigError, JbdiffError
from training.settings import DataSettings, DemoSettings, RunOptions, StageSettings

log = logging.getLogger("training.demo_recipe")

STAGES = ("vqvae", "level2", "level1", "level0", "dd")
STAGE_OVERHEAD_S = 15.0  # set-up per stage (datasets, caches, Lightning) the budgets do not count
EXPORT_RESERVE_S = 20.0


@dataclass
class Plan:
    """Budgets (seconds of training) per stage and the deadline for the whole run."""

    budgets: dict[str, float]
    total: float | None
    start: float

    def budget(self, stage: str) -> float:
        """This stage's budget, scaled down if the remaining stages would overrun the deadline."""
        want = self.budgets[stage]
        if self.total is None or want <= 0:
            return want
        todo = [s for s in STAGES[STAGES.index(stage):] if self.budgets[s] > 0]
        left = self.total - (time.monotonic() - self.start) - EXPORT_RESERVE_S - STAGE_OVERHEAD_S * len(todo)
        planned = sum(self.budgets[s] for s in todo)
        scale = max(0.0, min(1.0, left / planned)) if planned else 1.0
        if scale < 1.0:
            log.warning("%s: budget %.0f s shrunk to %.0f s to finish within --total-budget", stage, want, want * scale)
        return max(1.0, want * scale)


def _has_checkpoint(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*-step*.ckpt"))


def _init_files_from_bundle(bundle: Path, dest: Path) -> dict[str, Path]:
    """Per-stage weight files (plain state dicts) of a previous bundle, for warm starts."""
    import torch

    from jbdiff.bundle import load_bundle
    from jbdiff.level_checkpoint import level_state_dict_for_save

    models = load_bundle(bundle)
    dest.mkdir(parents=True, exist_ok=True)
    out = {"vqvae": dest / "vqvae.pt"}
    torch.save(models.vqvae.state_dict(), out["vqvae"])
    vq_state = models.vqvae.state_dict()
    for lvl, unet in models.unets.items():
        out[f"level{lvl}"] = dest / f"level{lvl}.pt"
        torch.save({"state_dict": level_state_dict_for_save(unet, vq_state)}, out[f"level{lvl}"])
    if models.dance is not None:
        out["dd"] = dest / "dd.pt"
        sd = models.dance.state_dict()
        torch.save({"state_dict": {**{f"diffusion.{k}": v for k, v in sd.items()},
                                   **{f"diffusion_ema.{k}": v for k, v in sd.items()}}}, out["dd"])
    return out


def run_recipe(args: argparse.Namespace) -> dict[str, Any]:
    """Train every stage, export the bundle, return the summary (also written as summary.json)."""
    from training import checkpoints as ckpts
    from training.export import export_bundle
    from training.stages import train_dance, train_level, train_vqvae

    t_start = time.monotonic()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "recipe.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    cfg = load_config(args.config)
    if cfg.sampling is None:
        raise ConfigError(f"{args.config}: the recipe needs a config with a sampling section")
    budgets = {"vqvae": args.budget_vqvae, "dd": args.budget_dd,
               **{f"level{lvl}": getattr(args, f"budget_level{lvl}") or args.budget_levels for lvl in (2, 1, 0)}}
    plan = Plan(budgets, args.total_budget, t_start)
    resume = Path(args.resume) if args.resume else None
    init = _init_files_from_bundle(Path(args.init_bundle), out / "init") if args.init_bundle else {}
    for stage in args.fresh or ():
        if init.pop(stage, None) is not None:
            log.info("%s starts from fresh weights (--fresh), not from %s", stage, args.init_bundle)
    data = DataSettings(train_data=Path(args.data), num_workers=args.num_workers, cache_dir=out / "cache",
                        seed=args.seed)
    base_run = RunOptions(out_dir=out, prefix="x", device=args.device, precision="auto", ckpt_every=10**9,
                          log_every=args.log_every, progress_bar=False, max_steps=args.max_steps)
    no_demo = DemoSettings(every=0, num=0)
    summary: dict[str, Any] = {"config": str(args.config), "data": str(args.data), "stages": {}}

    def previous(stage: str) -> Path | None:
        for folder in ([resume / stage] if resume else []) + [out / stage]:
            if _has_checkpoint(folder):
                return ckpts.latest(folder)
        return None

    def settings(stage: str, **kw) -> StageSettings:
        run = base_run.replace(out_dir=out / stage, max_time=plan.budget(stage),
                               precision="32" if stage == "vqvae" else "auto",
                               grad_clip=args.grad_clip)
        return StageSettings(stage=stage, model_cfg=cfg.model, data=data, run=run, seed=args.seed,
                             demo=no_demo, val_items=args.val_items, **kw)

    def record(stage: str, result, **extra) -> None:
        row = {"steps": result.global_step, "train_seconds": round(result.seconds, 1),
               "loss_last50": result.mean_loss(), "checkpoint": str(result.checkpoint), **extra}
        row.update({k: v for k, v in result.extra.items() if k != "val_step"})
        summary["stages"][stage] = row
        log.info("%s: %s", stage, row)

    def reuse(stage: str, required: bool = True) -> Path | None:
        """A budget-0 stage: its newest previous checkpoint (or the init bundle's weights)."""
        found = previous(stage) or init.get(stage)
        if found is None and required:
            raise ConfigError(f"--budget-{stage} 0 needs a previous {stage} result (--resume OUT or --init-bundle FILE)")
        summary["stages"][stage] = {"steps": 0, "reused": str(found)}
        return found

    # 1. VQ-VAE
    vq_trained = False
    if budgets["vqvae"] > 0:
        prev = previous("vqvae")
        s = settings("vqvae", batch_size=args.batch_vqvae, lr=args.lr_vqvae, sample_length=args.vqvae_sample_length,
                     cache_audio=True, resume=prev, vqvae_path=None if prev else init.get("vqvae"))
        res = train_vqvae(s)
        record("vqvae", res)
        vq_path, vq_trained = res.checkpoint, True
    else:
        vq_path = reuse("vqvae")
    # 2. levels 2, 1, 0 from pre-encoded latents
    level_paths: dict[int, Path] = {}
    for lvl in (2, 1, 0):
        stage = f"level{lvl}"
        if budgets[stage] <= 0:
            level_paths[lvl] = reuse(stage)
            continue
        prev = previous(stage)
        exact = prev is not None and not vq_trained
        s = settings(stage, level=lvl, batch_size=args.batch_levels, lr=args.lr_levels, vqvae_path=vq_path,
                     cache_latents=True, cache_shifts=args.cache_shifts, resume=prev if exact else None,
                     init_weights=None if exact else (prev or init.get(stage)))
        res = train_level(s)
        record(stage, res)
        level_paths[lvl] = res.checkpoint
    # 3. the stereo stage
    if budgets["dd"] > 0:
        prev = previous("dd")
        s = settings("dd", batch_size=args.batch_dd, lr=args.lr_dd, sample_length=args.dd_sample_length,
                     cache_audio=True, resume=prev, init_weights=None if prev else init.get("dd"))
        res = train_dance(s)
        record("dd", res)
        dd_path = res.checkpoint
    else:
        dd_path = reuse("dd", required=False)
    # 4. export
    bundle = out / f"{args.name}.safetensors"
    digest, _ = export_bundle(bundle, model_cfg=cfg.model, sampling_cfg=cfg.sampling, levels=level_paths,
                              vqvae=vq_path, dd=dd_path, name=args.name)
    summary["bundle"] = {"path": str(bundle), "sha256": digest, "megabytes": round(bundle.stat().st_size / 1e6, 2)}
    # 5. a short generation from the bundle, as the sampler will run it
    if args.sample_seconds > 0:
        summary["sample"] = _sample(bundle, out / "samples", args)
    summary["total_seconds"] = round(time.monotonic() - t_start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if args.export_dir:
        sample = Path(summary["sample"]["folder"]) if "sample" in summary else None
        _copy_results(out, Path(args.export_dir), args.name, sample)
    logging.getLogger().removeHandler(handler)
    return summary


def _sample(bundle: Path, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from jbdiff.bundle import load_bundle
    from jbdiff.device import pick_device
    from jbdiff.outputs import write_outputs
    from jbdiff.pipeline import Pipeline
    from jbdiff.request import GenerationRequest

    t0 = time.monotonic()
    pipe = Pipeline(load_bundle(bundle), pick_device(args.device))
    req = GenerationRequest(seconds_length=args.sample_seconds, noise_seed=args.seed, dd_noise_seed=args.seed,
                            project_name=args.name)
    result = pipe.generate(req)
    path = write_outputs(result, folder, args.name)
    return {"folder": str(path), "seconds": args.sample_seconds, "generation_seconds": round(time.monotonic() - t0, 1)}


OUT_FILE_LIMIT = 16 * 2**20 - 2**16  # a GPU job brings back files of at most 16 MiB (8 files): split bigger ones


def _copy_results(out: Path, dest: Path, name: str, sample: Path | None = None) -> list[Path]:
    """The small results to `dest` (e.g. a GPU job's $OUT) as at most 8 files of under 16 MiB.

    bundle (as ``.partNN`` pieces if larger: ``cat <name>.safetensors.part* > <name>.safetensors``),
    its ``.sha256``, summary.json, recipe.log, losses.csv (every stage), and this run's `sample`
    folder's final audio as sample.wav and sample.png (not an older run's left in the same folder).
    """
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    bundle = out / f"{name}.safetensors"
    if bundle.is_file():
        data = bundle.read_bytes()
        if len(data) <= OUT_FILE_LIMIT:
            written.append(dest / bundle.name)
            written[-1].write_bytes(data)
        else:
            for i in range(0, len(data), OUT_FILE_LIMIT):
                written.append(dest / f"{bundle.name}.part{i // OUT_FILE_LIMIT:02d}")
                written[-1].write_bytes(data[i:i + OUT_FILE_LIMIT])
    for f in (out / f"{name}.safetensors.sha256", out / "summary.json", out / "recipe.log"):
        if f.is_file():
            written.append(Path(shutil.copy2(f, dest / f.name)))
    rows = ["stage,step,loss"]
    for csv in sorted(out.glob("*/*-losses.csv")):
        rows += [f"{csv.parent.name},{line}" for line in csv.read_text().splitlines()[1:]]
    (dest / "losses.csv").write_text("\n".join(rows) + "\n")
    written.append(dest / "losses.csv")
    if sample is not None:
        for f in sorted(sample.glob("final_audio.*"))[:2]:
            written.append(Path(shutil.copy2(f, dest / f"sample{f.suffix}")))
    return written


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="training audio folder (the data recipe's carry copy or WAVs)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, caches, logs, bundle, summary")
    p.add_argument("--config", default="demo", help="model + sampling config (default: configs/demo.yaml)")
    p.add_argument("--name", default="demo", help="bundle name (<out>/<name>.safetensors)")
    g = p.add_argument_group("time budgets (seconds of training per stage; 0 = reuse a previous result)")
    g.add_argument("--budget-vqvae", type=float, default=120)
    g.add_argument("--budget-levels", type=float, default=80, help="each of levels 2, 1, 0")
    for lvl in (2, 1, 0):
        g.add_argument(f"--budget-level{lvl}", type=float, help=f"level {lvl} (default: --budget-levels)")
    g.add_argument("--budget-dd", type=float, default=80)
    g.add_argument("--total-budget", type=float,
                   help="wall-clock seconds for the whole command; stage budgets shrink to fit")
    g.add_argument("--max-steps", type=int, help="also stop each stage after this many steps (tests)")
    g = p.add_argument_group("continuing")
    g.add_argument("--resume", help="a previous run folder: each stage continues from its newest checkpoint")
    g.add_argument("--init-bundle", help="a previous bundle: every stage starts from its weights")
    g.add_argument("--fresh", nargs="+", choices=STAGES, metavar="STAGE",
                   help=f"stages that start from fresh weights despite --init-bundle, e.g. one whose shape "
                        f"--config changes ({', '.join(STAGES)})")
    g = p.add_argument_group("optimisation")
    g.add_argument("--batch-vqvae", type=int, default=16)
    g.add_argument("--batch-levels", type=int, default=64)
    g.add_argument("--batch-dd", type=int, default=16)
    g.add_argument("--lr-vqvae", type=float, default=3e-4)
    g.add_argument("--lr-levels", type=float, default=2e-4)
    g.add_argument("--lr-dd", type=float, default=2e-4)
    g.add_argument("--grad-clip", type=float, default=1.0)
    g.add_argument("--vqvae-sample-length", type=int, default=32768)
    g.add_argument("--dd-sample-length", type=int, default=65536)
    g.add_argument("--cache-shifts", type=int, default=2, help="shifted copies per file in the latent caches")
    g.add_argument("--val-items", type=int, default=64)
    g = p.add_argument_group("machine")
    g.add_argument("--device", default="auto")
    g.add_argument("--num-workers", type=int, default=2)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--log-every", type=int, default=25)
    g.add_argument("--sample-seconds", type=float, default=8.0, help="generate this much from the bundle (0: skip)")
    g.add_argument("--export-dir", help="also copy bundle, summary, logs and samples here (e.g. $OUT)")


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"{'stage':<8} {'steps':>7} {'train s':>8} {'loss':>9} {'val loss':>9} {'at start':>9}"]
    for stage, row in summary["stages"].items():
        loss_s, val_s, start_s = (f"{v:.4f}" if isinstance(v, float) else ""
                                  for v in (row.get("loss_last50"), row.get("val_loss"), row.get("val_loss_start")))
        lines.append(f"{stage:<8} {row.get('steps', 0):>7} {row.get('train_seconds', 0):>8} {loss_s:>9} {val_s:>9} "
                     f"{start_s:>9}")
        if "val_metrics" in row:
            for lvl, m in sorted(row["val_metrics"].items()):
                lines.append(f"         VQ-VAE level {lvl}: SNR {m['snr_db']:.2f} dB, STFT SC {m['stft_sc']:.3f}, "
                             f"log-mag {m['stft_logmag']:.3f}")
    b = summary.get("bundle", {})
    lines.append(f"bundle {b.get('path')} ({b.get('megabytes')} MB) sha256 {b.get('sha256')}")
    if "sample" in summary:
        lines.append(f"sample {summary['sample']['folder']} ({summary['sample']['generation_seconds']} s)")
    lines.append(f"total {summary.get('total_seconds')} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.demo_recipe", description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        summary = run_recipe(args)
    except JbdiffError as exc:
        print(f"demo_recipe: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
