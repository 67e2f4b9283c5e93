"""Fetch and unpack Debian packages without installing them (apt-get download + dpkg-deb -x)."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from training.data.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnpackedPackage:
    """A package unpacked into a folder: what the recipe reads tracks and licence from."""

    name: str
    version: str
    root: Path
    deb_sha256: str | None = None

    @property
    def copyright_path(self) -> Path:
        """Debian's licence file for the package, inside the unpacked tree."""
        return resolve_in_tree(self.root, Path("usr/share/doc") / self.name / "copyright")


def _run(cmd: list[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool and return its result; a missing tool becomes DataError naming it."""
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise DataError(f"`{cmd[0]}` is not installed; the Debian data recipe needs it") from exc


def find_deb(name: str, download_dir: Path) -> Path | None:
    """Return an already downloaded .deb of `name` (newest name if several), so reruns need no network."""
    hits = sorted(p for p in download_dir.glob(f"{name}_*.deb") if p.is_file())
    return hits[-1] if hits else None


def download_deb(name: str, download_dir: Path, *, update_if_needed: bool = True) -> Path:
    """`apt-get download` a package into download_dir, running `apt-get update` once if apt lacks it."""
    download_dir.mkdir(parents=True, exist_ok=True)
    existing = find_deb(name, download_dir)
    if existing is not None:
        log.info("using %s already in %s", existing.name, download_dir)
        return existing
    log.info("apt-get download %s into %s", name, download_dir)
    res = _run(["apt-get", "download", name], cwd=download_dir)
    if res.returncode != 0 and update_if_needed:
        log.warning(
            "apt-get download %s failed (%s); running apt-get update", name, res.stderr.strip()
        )
        upd = _run(["apt-get", "update"])
        if upd.returncode != 0:
            raise DataError(
                f"`apt-get update` failed (exit {upd.returncode}) while fetching {name}: "
                f"{upd.stderr.strip() or upd.stdout.strip()}"
            )
        res = _run(["apt-get", "download", name], cwd=download_dir)
    if res.returncode != 0:
        raise DataError(
            f"`apt-get download {name}` failed (exit {res.returncode}): {res.stderr.strip()}"
        )
    deb = find_deb(name, download_dir)
    if deb is None:
        raise DataError(
            f"`apt-get download {name}` succeeded but no {name}_*.deb is in {download_dir}"
        )
    return deb


def deb_field(deb: Path, field: str) -> str:
    """Read one control field (e.g. Version) of a .deb with dpkg-deb."""
    res = _run(["dpkg-deb", "-f", str(deb), field])
    if res.returncode != 0:
        raise DataError(f"cannot read field {field} of {deb}: {res.stderr.strip()}")
    return res.stdout.strip()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks so large .debs stay out of memory."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def unpack_deb(deb: Path, dest: Path) -> UnpackedPackage:
    """`dpkg-deb -x` a .deb into dest (replacing an old unpack) and describe it."""
    name = deb_field(deb, "Package")
    version = deb_field(deb, "Version")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    res = _run(["dpkg-deb", "-x", str(deb), str(dest)])
    if res.returncode != 0:
        raise DataError(f"`dpkg-deb -x {deb}` failed: {res.stderr.strip()}")
    log.info("unpacked %s %s into %s", name, version, dest)
    return UnpackedPackage(name=name, version=version, root=dest, deb_sha256=sha256_file(deb))


def fetch_and_unpack(name: str, download_dir: Path, unpack_dir: Path) -> UnpackedPackage:
    """Download (or reuse) and unpack one package: the network half of the recipe."""
    deb = download_deb(name, download_dir)
    return unpack_deb(deb, unpack_dir / name)


def resolve_in_tree(root: Path, rel: Path, _depth: int = 0) -> Path:
    """Follow symlinks inside an unpacked tree (absolute targets point into the tree, not the host)."""
    if _depth > 16:
        raise DataError(f"symlink loop resolving {rel} in {root}")
    path = root
    parts = list(rel.parts)
    for i, part in enumerate(parts):
        path = path / part
        if path.is_symlink():
            target = Path(path.readlink())
            base = Path(*parts[:i]) if i else Path()
            new_rel = Path(*target.parts[1:]) if target.is_absolute() else base / target
            new_rel = Path(*_normalise(new_rel.parts))
            rest = Path(*parts[i + 1 :]) if i + 1 < len(parts) else Path()
            return resolve_in_tree(root, new_rel / rest, _depth + 1)
    return path


def _normalise(parts: tuple[str, ...]) -> list[str]:
    """Collapse '.' and '..' in a relative path without leaving the tree."""
    out: list[str] = []
    for p in parts:
        if p in ("", "."):
            continue
        if p == "..":
            if out:
                out.pop()
            continue
        out.append(p)
    return out
