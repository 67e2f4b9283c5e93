"""``jbdiff sample``: the seed's sample.py flags, working, with a progress bar per stage."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from jbdiff.commands.args import bool_flag
from jbdiff.config import COMPILE_MODES
from jbdiff.model_registry import DEFAULT_MODEL
from jbdiff.request import NOISE_STYLES, QUALITIES, GenerationRequest

logger = logging.getLogger(__name__)

EXAMPLES = """examples:
  # 30 s through all levels, conditioned on song_a.wav
  jbdiff sample --seconds-length 30 --context-audio song_a.wav --save-dir results --levels 012

  # a variation of song_b.wav, levels 2 and 1 only, token multiplier 4, walking DD noise
  jbdiff sample --init-audio song_b.wav --init-strength 0.15 --context-audio song_a.wav \\
      --save-dir results --levels 12 --dd-noise-style walk --token-multiplier 4
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The seed's flags (same names and meanings) plus --model, --config and --device."""
    p.epilog = EXAMPLES
    p.add_argument("--seconds-length", type=float, default=12.0, help="length of the result in seconds (default 12)")
    p.add_argument("--init-audio", metavar="FILE", help="start from this audio instead of noise (result has its length)")
    p.add_argument("--init-strength", type=float, default=0.0,
                   help="0..1: how much of the init audio survives (1 returns it, 0 ignores it)")
    p.add_argument("--context-audio", metavar="FILE",
                   help="condition on the end of this clip (default: silence)")
    p.add_argument("--save-dir", default="outputs", help="folder for result folders (default: outputs)")
    p.add_argument("--levels", default="012", help="levels to run, e.g. 012, 12, 2 (default 012)")
    p.add_argument("--project-name", default="JBDiffusion", help="prefix of the result folder")
    p.add_argument("--noise-seed", type=int, help="seed of the base-level noise (random if unset, then reported)")
    p.add_argument("--noise-style", default="random", choices=NOISE_STYLES, help="how base noise moves between windows")
    p.add_argument("--noise-step-size", type=float, default=0.6, help="0..1: how far region/walk noise wanders")
    p.add_argument("--dd-noise-seed", type=int, help="seed of the Dance Diffusion noise")
    p.add_argument("--dd-noise-style", default="random", choices=NOISE_STYLES, help="how DD noise moves between windows")
    p.add_argument("--dd-noise-step-size", type=float, default=0.4, help="0..1: how far region/walk DD noise wanders")
    p.add_argument("--token-multiplier", type=int, default=2, help="window length in units of base_tokens (default 2)")
    bool_flag(p, "--use-dd", True, "run the Dance Diffusion stereo stage (default true)")
    bool_flag(p, "--update-lowest-context", False, "slide the first level's context over freshly generated audio")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="demo (built in, default), jbdiff-v1 (published weights: jbdiff download), tiny "
                        "(random weights), a .safetensors bundle or a model config YAML")
    p.add_argument("--config", help="sampling config YAML (default: the model's own)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--quality", default="standard", choices=QUALITIES, help="draft: fewer steps, for previews")
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--plain", action="store_true",
                       help="on CUDA, run the plain fp32 eager path instead of the fast one (bf16, CUDA graphs); "
                            "for debugging (JBDIFF_PLAIN=1 does the same for every command and the server)")
    speed.add_argument("--compile", choices=COMPILE_MODES, default=None,
                       help="torch.compile the networks (default: JBDIFF_COMPILE, else off). Worth it for "
                            "the server: the first render per model compiles for minutes, later ones are "
                            "faster; see docs/pipeline.md")
    bool_flag(p, "--spectrograms", True, "write spectrogram PNGs beside the WAVs")


def request_from_args(args: argparse.Namespace) -> GenerationRequest:
    """Map flags to the request (validated once, in GenerationRequest.validate)."""
    return GenerationRequest(
        seconds_length=args.seconds_length,
        init_audio=args.init_audio, init_strength=args.init_strength, context_audio=args.context_audio,
        levels=args.levels, noise_seed=args.noise_seed, noise_style=args.noise_style,
        noise_step_size=args.noise_step_size, dd_noise_seed=args.dd_noise_seed,
        dd_noise_style=args.dd_noise_style, dd_noise_step_size=args.dd_noise_step_size,
        token_multiplier=args.token_multiplier, use_dd=args.use_dd,
        update_lowest_context=args.update_lowest_context, project_name=args.project_name,
        quality=args.quality,
    ).validate()


def check_inputs(req: GenerationRequest) -> None:
    """Fail before loading any model when an input file is missing or unreadable."""
    from jbdiff.audio import load_audio

    for path in (req.init_audio, req.context_audio):
        if path is not None:
            load_audio(path, channels=1)


def run(args: argparse.Namespace) -> int:
    """Load the model, generate, write the result folder; exit 0 and print its path."""
    from jbdiff.model_registry import load_pipeline
    from jbdiff.outputs import write_outputs

    req = request_from_args(args)
    check_inputs(req)
    pipe = load_pipeline(args.model, device=args.device, sampling_config=args.config)
    if args.plain:
        pipe.options = pipe.options.plain()
    elif args.compile is not None:
        pipe.options = dataclasses.replace(pipe.options, compile=args.compile)
    bars = _ProgressBars(enabled=not args.quiet)
    try:
        result = pipe.generate(req, progress=bars)
    finally:
        bars.close()
    out = write_outputs(result, Path(args.save_dir), req.project_name, spectrograms=args.spectrograms)
    seeds = f"noise seed {result.request.noise_seed}, dd noise seed {result.request.dd_noise_seed}"
    print(f"{out}  ({result.audio.shape[1] / result.sample_rate:.2f} s, {seeds}, "
          f"{result.timings['total']:.1f} s)")
    return 0


class _ProgressBars:
    """One tqdm bar per stage, fed by the pipeline's progress callback."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bar = None
        self.key = None

    def __call__(self, stage: str, level: int | None, step: int, total: int) -> None:
        if not self.enabled or stage == "done":
            return
        from tqdm import tqdm

        key = (stage, level)
        if key != self.key:
            self.close()
            label = f"level {level}" if level is not None else stage
            if stage == "compiling":  # torch.compile's first call: minutes before the first step
                label = f"compiling {'level ' + str(level) if level is not None else 'stereo stage'}"
            self.bar = tqdm(total=total, desc=label, unit="step", leave=True)
            self.key = key
        self.bar.n = step
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.key = None
