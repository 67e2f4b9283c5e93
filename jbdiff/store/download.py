"""Fetch one registry entry into the cache: resumable, retried, verified before it is ever used."""

from __future__ import annotations

import errno
import http.client
import logging
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

from jbdiff import __version__
from jbdiff.store.errors import (
    ChecksumMismatch,
    DiskFull,
    DownloadError,
    HostUnreachable,
    RemoteNotFound,
)
from jbdiff.store.paths import cache_dir
from jbdiff.store.registry import CheckpointEntry, format_bytes
from jbdiff.store.verify import file_sha256, sha256_file, sidecar_path, write_sidecar

log = logging.getLogger(__name__)

CHUNK = 1 << 20
PART_SUFFIX = ".part"
LOCK_NAME = ".jbdiff-download.lock"
USER_AGENT = f"jbdiff/{__version__} (+urllib)"
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


@dataclass(frozen=True)
class _Retry:
    """How to wait between attempts; sleep is injected so tests never wait."""

    retries: int
    backoff: float
    max_backoff: float
    sleep: Callable[[float], None]

    def delay(self, attempt: int) -> float:
        """Exponential: backoff, 2*backoff, 4*backoff, ... capped at max_backoff."""
        return min(self.max_backoff, self.backoff * (2**attempt))


class _Transient(Exception):
    """A failure worth retrying (connection refused/reset, timeout, 5xx, short body)."""

    def __init__(self, message: str, *, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class _Bar:
    """Optional tqdm bar (bytes); silent when progress is off or stderr is not a terminal."""

    def __init__(self, desc: str, enabled: bool) -> None:
        self._bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=True)

    def start(self, total: int | None, initial: int) -> None:
        if self._bar is not None:
            self._bar.reset(total=total)
            self._bar.update(initial)

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def mirror_source(mirror: str, filename: str) -> str:
    """The URL or local path of `filename` under a mirror (http(s):// or file:// base, or a folder)."""
    m = mirror.strip()
    if m.startswith(("http://", "https://", "file://")):
        return m.rstrip("/") + "/" + quote(filename)
    if "://" in m:
        raise DownloadError(
            f"--mirror {mirror!r}: use an http(s):// or file:// URL, or a local folder"
        )
    folder = Path(m).expanduser()
    if not folder.is_dir():
        raise RemoteNotFound(f"mirror folder {folder} does not exist or is not a folder")
    return str(folder / filename)


def _local_path(src: str) -> Path | None:
    """The filesystem path of a file:// URL or plain path, or None for http(s)."""
    if src.startswith(("http://", "https://")):
        return None
    if src.startswith("file://"):
        return Path(urllib.request.url2pathname(urlparse(src).path))
    return Path(src)


def _part_size(part: Path) -> int:
    try:
        return part.stat().st_size
    except FileNotFoundError:
        return 0


def _check_space(folder: Path, needed: int, filename: str) -> None:
    """Fail before writing when the folder visibly lacks room (saves a doomed multi-GB transfer)."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if needed > free:
        raise DiskFull(
            f"not enough disk space in {folder} for {filename}: needs {format_bytes(needed)}, "
            f"{format_bytes(free)} free; free some space or pick another folder with --dir or JBDIFF_HOME"
        )


def _disk_full(folder: Path, filename: str, needed: int | None, exc: OSError) -> DiskFull:
    need = f"needs {format_bytes(needed)}" if needed is not None else "size unknown"
    return DiskFull(
        f"disk full while writing {filename} in {folder} ({need}; {exc.strerror or exc}); "
        "free some space or pick another folder with --dir or JBDIFF_HOME, then run again to resume"
    )


def _write(fh, data: bytes, part: Path, filename: str, needed: int | None) -> None:
    """Write one chunk, turning ENOSPC into DiskFull and other write errors into DownloadError."""
    try:
        fh.write(data)
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise _disk_full(part.parent, filename, needed, exc) from exc
        raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from exc


def _close(fh, part: Path, filename: str, needed: int | None) -> None:
    """Close (flushing buffers), with the same error mapping as _write."""
    try:
        fh.close()
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise _disk_full(part.parent, filename, needed, exc) from exc
        raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from exc


def _open_part(part: Path, append: bool):
    try:
        return open(part, "ab" if append else "wb")
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise _disk_full(part.parent, part.name, None, exc) from exc
        raise DownloadError(f"cannot write {part}: {exc.strerror or exc}") from exc


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(start, total) from 'bytes 100-199/1000' or 'bytes */1000'; None where absent or '*'."""
    if not value or not value.startswith("bytes "):
        return None, None
    spec, _, total = value[6:].partition("/")
    start = (
        int(spec.split("-", 1)[0])
        if spec and spec != "*" and spec.split("-", 1)[0].isdigit()
        else None
    )
    return start, int(total) if total.isdigit() else None


def _stream(resp, fh, part: Path, filename: str, needed: int | None, bar: _Bar) -> int:
    """Copy the response body to the open part file; returns bytes written."""
    wrote = 0
    while True:
        try:
            chunk = resp.read(CHUNK)
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(
                f"connection dropped after {wrote} bytes ({exc or type(exc).__name__})",
                unreachable=False,
            ) from exc
        if not chunk:
            return wrote
        _write(fh, chunk, part, filename, needed)
        wrote += len(chunk)
        bar.update(len(chunk))


def _http_attempt(url: str, part: Path, entry: CheckpointEntry, timeout: float, bar: _Bar) -> None:
    """One request: resume from the part file's size when possible; raises _Transient to retry."""
    offset = _part_size(part)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            _, total = _content_range(exc.headers.get("Content-Range"))
            if total == offset:
                return  # the part file is already complete
            log.info(
                "server refused resume of %s at byte %d; starting over", entry.filename, offset
            )
            part.unlink(missing_ok=True)
            raise _Transient(
                "range not satisfiable; restarting from byte 0", unreachable=False
            ) from exc
        if exc.code in (404, 410):
            raise RemoteNotFound(
                f"{url} returned HTTP {exc.code} (not found): no {entry.filename} there"
            ) from exc
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Transient(
                f"{url} returned HTTP {exc.code} {exc.reason}", unreachable=False
            ) from exc
        raise DownloadError(
            f"{url} returned HTTP {exc.code} {exc.reason} for {entry.filename}"
        ) from exc
    except urllib.error.URLError as exc:
        raise _Transient(f"{exc.reason}", unreachable=True) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(f"{exc or type(exc).__name__}", unreachable=True) from exc

    with resp:
        status = resp.status
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        append = False
        if offset and status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Transient(
                    f"server resumed at byte {start}, not {offset}; restarting", unreachable=False
                )
            append = True
        elif offset:
            log.info(
                "%s ignored the Range request; downloading %s from the start",
                urlparse(url).netloc,
                entry.filename,
            )
            offset = 0
            total = length
        else:
            total = length
        needed = (total - offset) if total is not None else None
        if needed is not None:
            _check_space(part.parent, needed, entry.filename)
        bar.start(total, offset)
        fh = _open_part(part, append)
        try:
            wrote = _stream(resp, fh, part, entry.filename, needed, bar)
        finally:
            _close(fh, part, entry.filename, needed)
    if total is not None and offset + wrote < total:
        raise _Transient(
            f"connection closed at byte {offset + wrote} of {total}", unreachable=False
        )


def _fetch_http(
    url: str, part: Path, entry: CheckpointEntry, retry: _Retry, timeout: float, bar: _Bar
) -> None:
    """Attempts with backoff; an attempt that made progress does not use up a retry."""
    host = urlparse(url).netloc
    attempt = 0
    while True:
        before = _part_size(part)
        try:
            _http_attempt(url, part, entry, timeout, bar)
            return
        except _Transient as exc:
            if _part_size(part) > before:
                attempt = 0
            if attempt >= retry.retries:
                tries = retry.retries + 1
                if exc.unreachable:
                    raise HostUnreachable(
                        f"cannot reach {host} to download {entry.filename} ({exc}) after {tries} attempt(s); "
                        "check the network connection or proxy, or install from a copy with --mirror"
                    ) from exc
                kept = _part_size(part)
                keep = f"; {format_bytes(kept)} kept in {part}, run again to resume" if kept else ""
                raise DownloadError(
                    f"download of {entry.filename} from {host} failed after {tries} attempt(s): {exc}{keep}"
                ) from exc
            delay = retry.delay(attempt)
            log.warning("%s: %s; retrying in %.1f s", host, exc, delay)
            attempt += 1
            retry.sleep(delay)


def _copy_local(src: Path, part: Path, entry: CheckpointEntry, bar: _Bar) -> None:
    """Copy from a mirror folder or file:// URL (no resume needed: local reads do not drop)."""
    if not src.is_file():
        raise RemoteNotFound(f"{src} does not exist: the mirror has no {entry.filename}")
    size = src.stat().st_size
    _check_space(part.parent, size, entry.filename)
    bar.start(size, 0)
    fh = _open_part(part, append=False)
    try:
        with open(src, "rb") as inp:
            while chunk := inp.read(CHUNK):
                _write(fh, chunk, part, entry.filename, size)
                bar.update(len(chunk))
    except OSError as exc:
        raise DownloadError(f"cannot read {src}: {exc.strerror or exc}") from exc
    finally:
        _close(fh, part, entry.filename, size)


def set_aside(
    path: Path, *, clock: Callable[[], float] = time.time, target_name: str | None = None
) -> Path:
    """Rename a bad file to `<name>.bad-<UTC timestamp>` so it is kept for inspection but never loaded."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(clock()))
    base = f"{target_name or path.name}.bad-{stamp}"
    bad = path.with_name(base)
    n = 1
    while bad.exists():
        bad = path.with_name(f"{base}-{n}")
        n += 1
    os.replace(path, bad)
    sidecar_path(path).unlink(missing_ok=True)
    return bad


def _verify_and_install(
    part: Path, final: Path, entry: CheckpointEntry, src: str, clock: Callable[[], float]
) -> None:
    """Check the SHA-256 of the finished part file, then atomically move it into place."""
    log.info("verifying %s", entry.filename)
    actual = sha256_file(part)
    if entry.sha256 is not None and actual != entry.sha256:
        bad = set_aside(part, clock=clock, target_name=final.name)
        raise ChecksumMismatch(
            f"{entry.filename} from {src} failed its checksum: expected sha256 {entry.sha256}, got {actual}; "
            f"the file was kept aside as {bad} and will not be used. Run again to re-download"
        )
    if entry.sha256 is None:
        log.warning("%s has no published checksum; its sha256 is %s", entry.filename, actual)
    os.replace(part, final)
    write_sidecar(final, actual)


def _present(final: Path, entry: CheckpointEntry, clock: Callable[[], float]) -> bool:
    """True if the installed file can be kept; a file failing its checksum is set aside."""
    if not final.is_file():
        return False
    if entry.sha256 is None:
        log.info("%s is present (no published checksum to verify)", final)
        return True
    actual = file_sha256(final)
    if actual == entry.sha256:
        log.info("%s is present and verified", final)
        return True
    bad = set_aside(final, clock=clock)
    log.warning(
        "%s failed its checksum (got %s); moved to %s and downloading again", final, actual, bad
    )
    return False


@contextmanager
def _folder_lock(folder: Path, filename: str) -> Iterator[None]:
    """One download at a time per cache folder (POSIX flock), so two processes never share a .part."""
    try:
        import fcntl
    except (
        ImportError
    ):  # Windows: no advisory lock; a clash still ends in a checksum failure, not a bad file
        yield
        return
    try:
        fh = open(folder / LOCK_NAME, "a+b")
    except OSError as exc:  # read-only shared cache: verifying present files still works
        log.debug("no download lock in %s: %s", folder, exc)
        yield
        return
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning(
                "another jbdiff download is using %s; waiting for it before %s", folder, filename
            )
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def download(
    entry: CheckpointEntry,
    dest_dir: str | os.PathLike[str] | None = None,
    *,
    mirror: str | None = None,
    progress: bool = True,
    retries: int = 3,
    backoff: float = 1.0,
    max_backoff: float = 60.0,
    timeout: float = 30.0,
    force: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Path:
    """Make `entry` present and verified in `dest_dir` (default: the cache) and return its path."""
    if retries < 0 or backoff < 0 or timeout <= 0:
        raise ValueError("retries and backoff must be >= 0 and timeout > 0")
    dest = cache_dir(dest_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create checkpoint folder {dest}: {exc.strerror or exc}"
        ) from exc
    final = dest / entry.filename
    with _folder_lock(dest, entry.filename):
        if not force and _present(final, entry, clock):
            return final
        sources = [mirror_source(mirror, entry.filename)] if mirror else list(entry.urls)
        retry = _Retry(retries=retries, backoff=backoff, max_backoff=max_backoff, sleep=sleep)
        return _fetch_any(entry, sources, final, retry, timeout, progress, clock)


def _fetch_any(
    entry: CheckpointEntry,
    sources: list[str],
    final: Path,
    retry: _Retry,
    timeout: float,
    progress: bool,
    clock: Callable[[], float],
) -> Path:
    """Try each source in turn; the first that delivers a verified file wins."""
    part = final.with_name(final.name + PART_SUFFIX)
    failures: list[DownloadError] = []
    bar = _Bar(entry.filename, progress)
    try:
        for i, src in enumerate(sources):
            log.info("downloading %s from %s", entry.filename, src)
            try:
                local = _local_path(src)
                if local is not None:
                    _copy_local(local, part, entry, bar)
                else:
                    _fetch_http(src, part, entry, retry, timeout, bar)
            except (DiskFull, ChecksumMismatch):
                raise
            except DownloadError as exc:
                failures.append(exc)
                if i + 1 < len(sources):
                    log.warning("%s; trying %s", exc, sources[i + 1])
                continue
            _verify_and_install(part, final, entry, src, clock)
            return final
    finally:
        bar.close()
    if len(failures) == 1:
        raise failures[0]
    raise type(failures[-1])("; ".join(str(f) for f in failures))
