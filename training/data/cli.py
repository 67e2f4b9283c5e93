"""`jbdiff data build`: build the demo training set from Debian's free game music."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from platformdirs import user_cache_dir

from jbdiff.errors import JbdiffError
from training.data.recipe import DEFAULT_PACKAGES, RecipeConfig, build

log = logging.getLogger(__name__)


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `jbdiff data build` (defaults are RecipeConfig's, so there is one place for them)."""
    d = RecipeConfig()
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("data/wesnoth"),
        help="folder for train/ and val/ WAV clips, manifest and licences",
    )
    parser.add_argument(
        "--packages",
        nargs="+",
        default=list(DEFAULT_PACKAGES),
        metavar="PKG",
        help="Debian packages holding the music (see docs/data.md)",
    )
    parser.add_argument(
        "--clip-seconds", type=float, default=d.clip_seconds, help="length of each clip in seconds"
    )
    parser.add_argument(
        "--clips-per-track",
        type=int,
        default=d.clips_per_track,
        help="clips cut from a track at most (fewer when the track is short)",
    )
    parser.add_argument(
        "--min-track-seconds",
        type=float,
        default=d.min_track_seconds,
        help="tracks shorter than this are left out",
    )
    parser.add_argument(
        "--val-tracks",
        type=int,
        default=d.val_tracks,
        help="whole tracks per package held out for validation",
    )
    parser.add_argument(
        "--seed", type=int, default=d.seed, help="seed of the validation-track choice"
    )
    parser.add_argument(
        "--subtype",
        choices=("PCM_16", "PCM_24"),
        default=d.subtype,
        help="WAV sample format of the clips",
    )
    parser.add_argument(
        "--carry-dir",
        type=Path,
        default=None,
        help="also write a compact Ogg Vorbis copy (+ manifest, licences) here",
    )
    parser.add_argument(
        "--carry-quality",
        type=float,
        default=d.carry_quality,
        help="Vorbis quality 0..1 of the carry copy (0.3 ~ 0.75 MiB/min)",
    )
    parser.add_argument(
        "--download-dir",
        type=Path,
        default=Path(user_cache_dir("jbdiff")) / "debs",
        help="where .deb files are downloaded (an existing one is reused)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="keep unpacked packages here (default: a temporary folder)",
    )


def run(args: argparse.Namespace) -> int:
    """Build the data set; a JbdiffError is logged as one line and gives exit status 1."""
    t0 = time.monotonic()
    try:
        config = RecipeConfig(
            clip_seconds=args.clip_seconds,
            clips_per_track=args.clips_per_track,
            min_track_seconds=args.min_track_seconds,
            val_tracks=args.val_tracks,
            seed=args.seed,
            subtype=args.subtype,
            carry_quality=args.carry_quality,
        )
        result = build(
            args.packages,
            args.out,
            config,
            download_dir=args.download_dir,
            work_dir=args.work_dir,
            carry_dir=args.carry_dir,
        )
    except JbdiffError as exc:
        log.error("data build failed: %s", exc)
        return 1
    tot = result.manifest["totals"]
    versions = ", ".join(f"{p['name']} {p['version']}" for p in result.manifest["packages"])
    log.info("packages: %s", versions)
    for split in ("train", "val"):
        log.info(
            "%s: %d tracks, %d clips, %.1f min",
            split,
            tot[split]["tracks"],
            tot[split]["clips"],
            tot[split]["seconds"] / 60,
        )
    log.info("skipped tracks (too short): %d", tot["skipped_tracks"])
    if result.carry_bytes is not None:
        log.info("carry copy: %s, %.1f MB", args.carry_dir, result.carry_bytes / 1e6)
    log.info("done in %.1f s -> %s", time.monotonic() - t0, args.out)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``jbdiff data build ...`` (one verb today; the group leaves room for more)."""
    sub = parser.add_subparsers(dest="data_command", metavar="VERB")
    sub.required = True
    add_build_arguments(sub.add_parser("build", help="build the demo training set from Debian's free game music",
                                       description=__doc__))


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m training.data build ...`` (same as ``jbdiff data build``)."""
    parser = argparse.ArgumentParser(prog="python -m training.data")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run(args)
