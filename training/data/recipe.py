"""The demo data recipe: cut deterministic clips from packaged free music, hold out whole tracks.

Network and unpacking live in `debian.py`; everything here starts from unpacked package trees,
so tests run it on synthetic packages and reruns give byte-identical clips and manifest.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from training.data.audio_io import SAMPLE_RATE, decode, float_to_int16, resample, to_channels
from training.data.copyright import track_licence
from training.data.debian import UnpackedPackage
from training.data.errors import DataError
from training.data.tracks import Track, find_tracks

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "jbdiff-data-manifest/1"
MANIFEST_JSON = "manifest.json"
MANIFEST_CSV = "manifest.csv"
CARRY_JSON = "carry.json"
LICENSES_DIR = "licenses"
SPLITS = ("train", "val")
SUBTYPES = ("PCM_16", "PCM_24")
DEFAULT_PACKAGES = ("wesnoth-1.16-music",)
CSV_FIELDS = (
    "file",
    "split",
    "package",
    "version",
    "track",
    "offset_seconds",
    "offset_samples",
    "duration_seconds",
    "samples",
    "sample_rate",
    "channels",
    "licence",
    "sha256",
)


@dataclass(frozen=True)
class RecipeConfig:
    """Every knob of the recipe; written into the manifest so a data set says how it was made."""

    clip_seconds: float = 20.0
    clips_per_track: int = 5
    min_track_seconds: float = 60.0
    val_tracks: int = 5
    seed: int = 0
    sample_rate: int = SAMPLE_RATE
    channels: int = 2
    subtype: str = "PCM_16"
    carry_quality: float = 0.3

    def __post_init__(self) -> None:
        """Reject values that would make an empty or broken data set, naming the field."""
        if not 0.5 <= self.clip_seconds <= 600:
            raise DataError(f"clip_seconds must be in [0.5, 600], got {self.clip_seconds}")
        if self.clips_per_track < 1:
            raise DataError(f"clips_per_track must be >= 1, got {self.clips_per_track}")
        if self.min_track_seconds < self.clip_seconds:
            raise DataError(
                f"min_track_seconds ({self.min_track_seconds}) must be >= clip_seconds ({self.clip_seconds})"
            )
        if self.val_tracks < 0:
            raise DataError(f"val_tracks must be >= 0, got {self.val_tracks}")
        if self.channels not in (1, 2):
            raise DataError(f"channels must be 1 or 2, got {self.channels}")
        if self.subtype not in SUBTYPES:
            raise DataError(f"subtype must be one of {SUBTYPES}, got {self.subtype!r}")
        if not 0.0 <= self.carry_quality <= 1.0:
            raise DataError(f"carry_quality must be in [0, 1], got {self.carry_quality}")

    @property
    def clip_frames(self) -> int:
        """Clip length in samples at the output rate."""
        return int(round(self.clip_seconds * self.sample_rate))


@dataclass
class RecipeResult:
    """What a build produced, for the CLI summary and for tests."""

    manifest: dict
    out: Path
    carry_bytes: int | None = None
    clips: dict[str, int] = field(default_factory=dict)


def clip_offsets(track_frames: int, clip_frames: int, clips_per_track: int) -> list[int]:
    """Offsets of up to n non-overlapping clips, each centred in one of n equal parts of the track."""
    n = min(clips_per_track, track_frames // clip_frames)
    return [(2 * k * track_frames + track_frames - n * clip_frames) // (2 * n) for k in range(n)]


def _rank_key(seed: int, track: Track) -> str:
    """Stable pseudo-random rank of a track: the same tracks go to validation on every machine."""
    return hashlib.sha256(f"{seed}\0{track.package}\0{track.path}".encode()).hexdigest()


def choose_val_tracks(tracks: list[Track], n: int, seed: int) -> set[str]:
    """Hold out n whole tracks (never clips) of one package, chosen by hash of seed and track path."""
    if n and n >= len(tracks):
        raise DataError(
            f"val_tracks={n} would leave no training track: package {tracks[0].package} has only "
            f"{len(tracks)} usable tracks"
        )
    ranked = sorted(tracks, key=lambda t: (_rank_key(seed, t), t.path))
    return {t.path for t in ranked[:n]}


def _slug(text: str) -> str:
    """File-name-safe form of a track or package name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "track"


def _clip_stems(tracks: list[Track]) -> dict[str, str]:
    """Unique, readable file stem per track: '<package>__<track stem>' (+ hash if stems collide)."""
    stems: dict[str, str] = {}
    taken: dict[str, int] = {}
    for t in tracks:
        base = f"{_slug(t.package)}__{_slug(Path(t.path.split('!')[-1]).stem)}"
        taken[base] = taken.get(base, 0) + 1
    for t in tracks:
        base = f"{_slug(t.package)}__{_slug(Path(t.path.split('!')[-1]).stem)}"
        if taken[base] > 1:
            base += "_" + hashlib.sha256(t.path.encode()).hexdigest()[:8]
        stems[t.path] = base
    return stems


def _wav_bytes(pcm: np.ndarray, rate: int, subtype: str) -> bytes:
    """Encode a clip as WAV in memory so its hash and file come from the same bytes."""
    buf = io.BytesIO()
    if subtype == "PCM_16":
        sf.write(buf, pcm, rate, subtype="PCM_16", format="WAV")
    else:
        sf.write(buf, pcm.astype(np.int32), rate, subtype="PCM_24", format="WAV")
    return buf.getvalue()


def _quantise(audio: np.ndarray, subtype: str) -> np.ndarray:
    """Round float audio to the output's integer grid (int16, or int32 holding 24-bit steps)."""
    if subtype == "PCM_16":
        return float_to_int16(audio)
    q = np.clip(np.rint(audio * 8388607.0), -8388608, 8388607).astype(np.int64)
    return (q * 256).astype(np.int32)


def _prepare_out(path: Path, what: str) -> None:
    """Empty a folder the recipe made before (it has our manifest); refuse to clobber anything else."""
    if path.exists() and any(path.iterdir()):
        if not (path / MANIFEST_JSON).is_file():
            raise DataError(
                f"{what} folder {path} is not empty and holds no {MANIFEST_JSON} from this recipe; "
                "choose an empty or new folder"
            )
        for sub in (*SPLITS, LICENSES_DIR):
            if (path / sub).exists():
                shutil.rmtree(path / sub)
        for name in (MANIFEST_JSON, MANIFEST_CSV, CARRY_JSON):
            (path / name).unlink(missing_ok=True)
    for sub in SPLITS:
        (path / sub).mkdir(parents=True, exist_ok=True)


def _copy_licences(packages: list[UnpackedPackage], dest: Path) -> dict[str, str]:
    """Copy each package's copyright file to dest/licenses/<pkg>/copyright; returns their texts."""
    texts = {}
    for pkg in packages:
        src = pkg.copyright_path
        if not src.is_file():
            raise DataError(
                f"package {pkg.name} has no copyright file at {src}; cannot ship data without its licence"
            )
        target = dest / LICENSES_DIR / pkg.name / "copyright"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        texts[pkg.name] = src.read_text(encoding="utf-8", errors="replace")
    return texts


def _write_manifest(manifest: dict, dest: Path) -> None:
    """Write manifest.json (sorted keys, no timestamps: byte-identical on rerun) and manifest.csv."""
    text = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    (dest / MANIFEST_JSON).write_text(text, encoding="utf-8")
    with open(dest / MANIFEST_CSV, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, lineterminator="\n")
        w.writeheader()
        for clip in manifest["clips"]:
            w.writerow({k: clip[k] for k in CSV_FIELDS})


def plan_tracks(
    packages: list[UnpackedPackage], config: RecipeConfig
) -> tuple[list[Track], dict[str, dict], dict[str, str]]:
    """List every track, mark too-short ones skipped and pick whole validation tracks per package."""
    all_tracks: list[Track] = []
    status: dict[str, dict] = {}
    for pkg in packages:
        tracks = find_tracks(pkg)
        if not tracks:
            raise DataError(
                f"package {pkg.name} {pkg.version} holds no audio track libsndfile can read"
            )
        usable = [t for t in tracks if t.seconds >= config.min_track_seconds]
        if not usable:
            raise DataError(
                f"package {pkg.name}: none of its {len(tracks)} tracks lasts min_track_seconds="
                f"{config.min_track_seconds} s"
            )
        val = choose_val_tracks(usable, config.val_tracks, config.seed)
        for t in tracks:
            key = f"{t.package}\0{t.path}"
            if t.seconds < config.min_track_seconds:
                status[key] = {
                    "split": "skipped",
                    "reason": f"shorter than {config.min_track_seconds} s",
                }
            else:
                status[key] = {"split": "val" if t.path in val else "train"}
        all_tracks.extend(tracks)
    stems: dict[str, str] = {}
    for pkg in packages:
        stems.update(
            {
                f"{pkg.name}\0{k}": v
                for k, v in _clip_stems([t for t in all_tracks if t.package == pkg.name]).items()
            }
        )
    return all_tracks, status, stems


def build_from_unpacked(
    packages: list[UnpackedPackage],
    out: Path,
    config: RecipeConfig | None = None,
    *,
    carry_dir: Path | None = None,
) -> RecipeResult:
    """Cut clips from unpacked packages into out/{train,val}, write manifest, licences and carry copy."""
    config = config or RecipeConfig()
    if not packages:
        raise DataError("no packages given to the data recipe")
    names = [p.name for p in packages]
    if len(set(names)) != len(names):
        raise DataError(f"package listed twice: {names}")
    packages = sorted(packages, key=lambda p: p.name)
    out = Path(out)
    _prepare_out(out, "output")
    if carry_dir is not None:
        carry_dir = Path(carry_dir)
        if carry_dir.resolve() == out.resolve():
            raise DataError("--carry-dir must differ from --out")
        _prepare_out(carry_dir, "carry")
    texts = _copy_licences(packages, out)
    tracks, status, stems = plan_tracks(packages, config)

    clips: list[dict] = []
    track_rows: list[dict] = []
    carry_files: list[dict] = []
    cf = config.clip_frames
    for t in tqdm(tracks, desc="tracks", unit="track"):
        key = f"{t.package}\0{t.path}"
        st = status[key]
        licence = track_licence(t.package, t.path, texts[t.package])
        row = {
            "package": t.package,
            "version": t.version,
            "path": t.path,
            "licence": licence,
            "split": st["split"],
            "header_seconds": round(t.seconds, 6),
            "clips": 0,
        }
        if "reason" in st:
            row["reason"] = st["reason"]
            track_rows.append(row)
            continue
        audio, rate = decode(t.source)
        audio = to_channels(resample(audio, rate, config.sample_rate), config.channels)
        row["source_sample_rate"] = rate
        row["decoded_samples"] = int(audio.shape[0])
        offsets = clip_offsets(audio.shape[0], cf, config.clips_per_track)
        for k, off in enumerate(offsets):
            pcm = _quantise(audio[off : off + cf], config.subtype)
            data = _wav_bytes(pcm, config.sample_rate, config.subtype)
            rel = f"{st['split']}/{stems[key]}__{k:02d}.wav"
            (out / rel).write_bytes(data)
            clips.append(
                {
                    "file": rel,
                    "split": st["split"],
                    "package": t.package,
                    "version": t.version,
                    "track": t.path,
                    "offset_seconds": round(off / config.sample_rate, 6),
                    "offset_samples": int(off),
                    "duration_seconds": round(cf / config.sample_rate, 6),
                    "samples": cf,
                    "sample_rate": config.sample_rate,
                    "channels": config.channels,
                    "licence": licence,
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
            if carry_dir is not None:
                carry_files.append(_write_carry_clip(pcm, config, carry_dir, rel))
        row["clips"] = len(offsets)
        track_rows.append(row)

    manifest = _manifest(packages, config, track_rows, clips, texts)
    _write_manifest(manifest, out)
    result = RecipeResult(
        manifest=manifest, out=out, clips={s: sum(c["split"] == s for c in clips) for s in SPLITS}
    )
    if carry_dir is not None:
        result.carry_bytes = _finish_carry(carry_dir, out, manifest, carry_files, config)
    log.info("wrote %d clips (%s) to %s", len(clips), result.clips, out)
    return result


def _manifest(packages, config, track_rows, clips, texts) -> dict:
    """Assemble the manifest dict: recipe, packages with versions and licences, tracks, clips, totals."""
    pkgs = [
        {
            "name": p.name,
            "version": p.version,
            "deb_sha256": p.deb_sha256,
            "copyright": f"{LICENSES_DIR}/{p.name}/copyright",
            "copyright_sha256": hashlib.sha256(texts[p.name].encode("utf-8")).hexdigest(),
            "licence": track_licence(p.name, "", texts[p.name]),
        }
        for p in packages
    ]
    totals = {}
    for s in SPLITS:
        sel = [c for c in clips if c["split"] == s]
        totals[s] = {
            "clips": len(sel),
            "tracks": sum(r["split"] == s for r in track_rows),
            "seconds": round(sum(c["samples"] for c in sel) / config.sample_rate, 3),
        }
    totals["skipped_tracks"] = sum(r["split"] == "skipped" for r in track_rows)
    return {
        "format": MANIFEST_FORMAT,
        "recipe": asdict(config),
        "packages": pkgs,
        "tracks": track_rows,
        "clips": clips,
        "totals": totals,
    }


def _write_carry_clip(pcm: np.ndarray, config: RecipeConfig, carry_dir: Path, rel: str) -> dict:
    """Encode one clip as Ogg Vorbis for the GPU machine (libsndfile level = 1 - Vorbis quality)."""
    target = carry_dir / Path(rel).with_suffix(".ogg")
    scale = 32768.0 if pcm.dtype == np.int16 else 2147483648.0
    sf.write(
        str(target),
        pcm.astype(np.float32) / scale,
        config.sample_rate,
        format="OGG",
        subtype="VORBIS",
        compression_level=1.0 - config.carry_quality,
    )
    return {"file": Path(rel).with_suffix(".ogg").as_posix(), "bytes": target.stat().st_size}


def _finish_carry(carry_dir: Path, out: Path, manifest: dict, files: list[dict], config) -> int:
    """Put manifest and licences beside the Vorbis clips; returns the carry copy's total bytes."""
    shutil.copytree(out / LICENSES_DIR, carry_dir / LICENSES_DIR)
    shutil.copyfile(out / MANIFEST_JSON, carry_dir / MANIFEST_JSON)
    shutil.copyfile(out / MANIFEST_CSV, carry_dir / MANIFEST_CSV)
    info = {
        "format": "ogg-vorbis",
        "vorbis_quality": config.carry_quality,
        "note": "lossy copy of the WAV clips in the manifest; sha256 there is of the WAVs",
        "files": files,
        "audio_bytes": sum(f["bytes"] for f in files),
    }
    (carry_dir / CARRY_JSON).write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in carry_dir.rglob("*") if p.is_file())
    log.info("carry copy in %s: %.1f MB", carry_dir, total / 1e6)
    return total


def build(
    packages: tuple[str, ...] | list[str] = DEFAULT_PACKAGES,
    out: Path = Path("data/wesnoth"),
    config: RecipeConfig | None = None,
    *,
    download_dir: Path,
    work_dir: Path | None = None,
    carry_dir: Path | None = None,
) -> RecipeResult:
    """Whole recipe: download (or reuse) and unpack each package, then cut clips from the trees."""
    import tempfile

    from training.data.debian import fetch_and_unpack

    if not packages:
        raise DataError("no packages given to the data recipe")
    with tempfile.TemporaryDirectory(prefix="jbdiff-unpack-") as tmp:
        unpack_root = Path(work_dir) if work_dir is not None else Path(tmp)
        unpacked = [fetch_and_unpack(name, Path(download_dir), unpack_root) for name in packages]
        return build_from_unpacked(unpacked, Path(out), config, carry_dir=carry_dir)
