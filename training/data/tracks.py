"""Find the audio tracks inside an unpacked package, including those zipped in game archives (.pk3)."""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import soundfile as sf

from training.data.audio_io import is_audio_path
from training.data.debian import UnpackedPackage
from training.data.errors import DataError

log = logging.getLogger(__name__)

ARCHIVE_EXTENSIONS = (".pk3", ".zip")


@dataclass(frozen=True)
class Track:
    """One source track: where it sits in the package (`path`) and the file to decode (`source`)."""

    package: str
    version: str
    path: str
    source: Path
    seconds: float


def _extract_archive_audio(archive: Path, rel: str, dest_root: Path) -> list[tuple[str, Path]]:
    """Extract the audio members of a zip archive; returns (package path 'a.pk3!member', file)."""
    out: list[tuple[str, Path]] = []
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        log.warning("skipping %s: not a zip archive (%s)", archive, exc)
        return out
    with zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            member = PurePosixPath(info.filename)
            if info.is_dir() or member.is_absolute() or ".." in member.parts:
                continue
            if not is_audio_path(Path(member.name)):
                continue
            target = dest_root / rel / Path(*member.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
            out.append((f"{rel}!{member.as_posix()}", target))
    return out


def find_tracks(pkg: UnpackedPackage, extract_dir: Path | None = None) -> list[Track]:
    """All readable audio tracks of a package, sorted by package path so every run sees one order."""
    if not pkg.root.is_dir():
        raise DataError(f"unpacked package folder {pkg.root} does not exist")
    extract_root = extract_dir or pkg.root.parent / f"{pkg.name}.extracted"
    candidates: list[tuple[str, Path]] = []
    for f in sorted(pkg.root.rglob("*")):
        if not f.is_file() or f.is_symlink():
            continue
        rel = f.relative_to(pkg.root).as_posix()
        if rel.startswith("usr/share/doc/"):
            continue
        if f.suffix.lower() in ARCHIVE_EXTENSIONS:
            candidates.extend(_extract_archive_audio(f, rel, extract_root))
        elif is_audio_path(f):
            candidates.append((rel, f))
    tracks = []
    for rel, src in sorted(candidates):
        try:
            info = sf.info(str(src))
        except (sf.LibsndfileError, RuntimeError) as exc:
            log.warning("skipping unreadable track %s of %s: %s", rel, pkg.name, exc)
            continue
        tracks.append(Track(pkg.name, pkg.version, rel, src, info.frames / info.samplerate))
    log.info("%s %s: %d audio tracks", pkg.name, pkg.version, len(tracks))
    return tracks
