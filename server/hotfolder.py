"""The drop folder: clips dragged out of the DAW into ``context/`` or ``init/`` become server actions.

A watchdog observer reports files; a file is used only once it is complete: its size and
modification time have not changed for ``stable_s`` *and* it decodes as whole audio (a WAV/AIFF
header promising more bytes than the file holds means it is still being copied). Temp files
(``.tmp``, ``.part``, dot-files, Ableton's ``.asd``) are ignored; anything else that is not
usable audio is rejected with ``/jbdiff/error`` to registered clients and a log line.

Every drop is a row in the server's journal with the file's (path, size, mtime), written before
its action and finished after it, so a restart neither repeats a drop nor forgets one: the scan
at start skips files exactly as they were used and picks up files that arrived while the server
was down, and a drop whose job was queued just before a crash is matched to that job by its tag
instead of being queued twice. A file created or moved in while the server runs is always a new
drop, so dropping the same clip again renders it again.

A context drop sets the live ``context`` parameter (and with ``auto_generate`` queues a job); an
init drop queues a variation with the live parameters: both through ``Server.set_param`` and
``Server.submit``, the paths OSC takes.
"""

from __future__ import annotations

import enum
import logging
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf
from watchdog.events import FileSystemEventHandler

from server.errors import DropRejected, ServerError
from server.frontends import broadcast, broadcast_error
from server.params import default_value, parse_pairs

if TYPE_CHECKING:
    from server.app import Server

logger = logging.getLogger(__name__)

DROP_ADDRESS = "/jbdiff/hotfolder/drop"       # news of each drop, and the address in its error replies
AUDIO_SUFFIXES = frozenset({".wav", ".wave", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".oga", ".mp3",
                            ".w64", ".rf64", ".caf"})
TEMP_SUFFIXES = frozenset({".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".asd",
                           ".swp", ".lock"})
DECODE_BLOCK_FRAMES = 1 << 16
MAX_NAME_CHARS = 96

_SCHEMA = """
CREATE TABLE IF NOT EXISTS drops (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('context', 'init')),
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('processing', 'done', 'rejected')),
    job_id TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS drops_by_file ON drops (path, size, mtime_ns);
"""


# ---------------------------------------------------------------------------- files


class NameKind(enum.StrEnum):
    """What a file's name says it is, before anything is read."""

    AUDIO = "audio"
    TEMP = "temp"          # ignored without a word: a copy in progress, an editor's or Live's side file
    OTHER = "other"        # rejected once it stops changing


def classify_name(name: str) -> NameKind:
    """Temp files by the conventions copy tools and DAWs use; audio by extension."""
    lower = name.lower()
    if not lower or lower.startswith((".", "~$")) or lower.endswith("~"):
        return NameKind.TEMP
    suffix = Path(lower).suffix
    if suffix in TEMP_SUFFIXES:
        return NameKind.TEMP
    return NameKind.AUDIO if suffix in AUDIO_SUFFIXES else NameKind.OTHER


class Verdict(enum.StrEnum):
    """Whether a file that stopped changing can be used."""

    COMPLETE = "complete"
    INCOMPLETE = "incomplete"      # may still be arriving: wait (up to incomplete_timeout_s)
    CORRUPT = "corrupt"            # will not become audio by waiting


@dataclass(frozen=True)
class Probe:
    verdict: Verdict
    reason: str = ""
    frames: int = 0
    sample_rate: int = 0
    channels: int = 0


def header_shortfall(head: bytes, size: int) -> str | None:
    """For RIFF (WAV) and FORM (AIFF): why the header says the file is not all there yet, else None.

    libsndfile opens a truncated WAV without complaint (it reports fewer frames), so the
    container's own length field is what tells a half-copied file from a whole one.
    """
    if len(head) < 8 or head[:4] not in (b"RIFF", b"FORM"):
        return None
    order = "little" if head[:4] == b"RIFF" else "big"
    field = int.from_bytes(head[4:8], order)
    if field in (0, 0xFFFFFFFF):
        return "its header has no length yet (still being written)"
    declared = field + 8
    if size < declared:
        return f"its header promises {declared} bytes but the file has {size}"
    return None


def probe_audio(path: Path) -> Probe:
    """Decode the whole file in blocks: complete, still arriving, or not audio at all."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        return Probe(Verdict.INCOMPLETE, f"cannot be read yet ({exc.strerror or exc})")
    if size == 0:
        return Probe(Verdict.INCOMPLETE, "is empty")
    short = header_shortfall(head, size)
    if short is not None:
        return Probe(Verdict.INCOMPLETE, short)
    try:
        snd = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        return Probe(Verdict.CORRUPT, f"cannot be decoded as audio ({exc})")
    frames = 0
    with snd:
        declared, rate, channels = snd.frames, snd.samplerate, snd.channels
        try:
            for block in snd.blocks(blocksize=DECODE_BLOCK_FRAMES, dtype="float32", always_2d=True):
                if not np.isfinite(block).all():
                    return Probe(Verdict.CORRUPT, "holds NaN or infinite samples")
                frames += len(block)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            return Probe(Verdict.INCOMPLETE, f"stops decoding after {frames} of {declared} frames ({exc})")
    if frames == 0:
        return Probe(Verdict.CORRUPT, "holds no audio samples")
    if 0 < declared and frames < declared:
        return Probe(Verdict.INCOMPLETE, f"decodes {frames} of the {declared} frames its header declares")
    return Probe(Verdict.COMPLETE, frames=frames, sample_rate=rate, channels=channels)


# ---------------------------------------------------------------------------- the journal table


@dataclass(frozen=True)
class Drop:
    """One journaled drop."""

    seq: int
    path: str
    kind: str
    size: int
    mtime_ns: int
    state: str
    job_id: str | None
    error: str | None
    created_at: float
    finished_at: float | None


class DropLog:
    """The ``drops`` table in the server's journal (same file, same lock, its own rows)."""

    def __init__(self, journal: Any, now: Callable[[], float] = time.time) -> None:
        self.journal = journal
        self._now = now
        with journal.transaction() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def find(self, path: Path, size: int, mtime_ns: int) -> Drop | None:
        with self.journal.transaction() as db:
            row = db.execute("SELECT * FROM drops WHERE path=? AND size=? AND mtime_ns=? ORDER BY seq DESC LIMIT 1",
                             (str(path), size, mtime_ns)).fetchone()
        return _drop(row)

    def begin(self, path: Path, kind: str, size: int, mtime_ns: int) -> Drop:
        """Record a drop as being processed (before its action, so a crash cannot lose it)."""
        with self.journal.transaction() as db:
            cur = db.execute("INSERT INTO drops (path, kind, size, mtime_ns, state, created_at) "
                             "VALUES (?, ?, ?, ?, 'processing', ?)", (str(path), kind, size, mtime_ns, self._now()))
            drop = _drop(db.execute("SELECT * FROM drops WHERE seq=?", (cur.lastrowid,)).fetchone())
        assert drop is not None
        return drop

    def finish(self, seq: int, state: str, *, job_id: str | None = None, error: str | None = None) -> None:
        with self.journal.transaction() as db:
            db.execute("UPDATE drops SET state=?, job_id=?, error=?, finished_at=? WHERE seq=?",
                       (state, job_id, error, self._now(), seq))

    def unfinished(self) -> list[Drop]:
        with self.journal.transaction() as db:
            rows = db.execute("SELECT * FROM drops WHERE state='processing' ORDER BY seq").fetchall()
        return [d for d in map(_drop, rows) if d is not None]

    def last_context(self) -> Drop | None:
        with self.journal.transaction() as db:
            row = db.execute("SELECT * FROM drops WHERE kind='context' AND state='done' "
                             "ORDER BY seq DESC LIMIT 1").fetchone()
        return _drop(row)

    def recent(self, limit: int) -> list[Drop]:
        with self.journal.transaction() as db:
            rows = db.execute("SELECT * FROM drops ORDER BY seq DESC LIMIT ?", (int(limit),)).fetchall()
        return [d for d in map(_drop, rows) if d is not None]

    def job_for_tag(self, tag: str) -> str | None:
        """The job a drop queued (its tag names the drop), if the queue has it."""
        with self.journal.transaction() as db:
            row = db.execute("SELECT id FROM jobs WHERE source='hotfolder' AND tag=? ORDER BY seq LIMIT 1",
                             (tag,)).fetchone()
        return None if row is None else str(row["id"])


def _drop(row: Any) -> Drop | None:
    if row is None:
        return None
    return Drop(**{k: row[k] for k in row.keys()})


def drop_tag(seq: int) -> str:
    """The tag of the job a drop queues (echoed in /jbdiff/job/accepted, and how recovery finds it)."""
    return f"drop:{seq}"


# ---------------------------------------------------------------------------- the service


@dataclass
class _Pending:
    """A file seen but not yet used: its last (size, mtime) and when that last changed."""

    kind: str
    identity: tuple[int, int] | None
    changed_at: float
    waited_for: tuple[int, int] | None = None      # identity that probed INCOMPLETE (no re-probe until it changes)
    reason: str = ""                               # why it is incomplete
    fresh: bool = False                            # it appeared (created or moved in): a drop even if an
                                                   # identical file was used before (the same clip again)


class HotFolder:
    """The watcher service: ``start()`` recovers, scans and watches; ``stop()`` ends both threads."""

    def __init__(self, server: Server, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.server = server
        self.cfg = server.cfg.hotfolder
        self.folders = {"context": server.cfg.context_path, "init": server.cfg.init_path}
        self._monotonic = monotonic
        self.log = DropLog(server.journal, now=server.now)
        self._pending: dict[Path, _Pending] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._observer: Any = None
        self.observer_kind = "none"
        for folder in self.folders.values():
            folder.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.recover()
        self._restore_context()
        self._observer = self._start_observer()
        self.scan()
        self._thread = threading.Thread(target=self._loop, name="jbdiff-hotfolder", daemon=True)
        self._thread.start()
        logger.info("hot folder: drop clips into %s (context) or %s (init); watching with %s",
                    self.folders["context"], self.folders["init"], self.observer_kind)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5.0)
        if self._thread is not None:
            self._thread.join(5.0)

    def _start_observer(self) -> Any:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        handler = _Events(self)
        root = str(self.server.cfg.drop_path)
        if self.cfg.observer == "auto":
            observer = Observer()
            try:
                observer.schedule(handler, root, recursive=True)
                observer.start()
                self.observer_kind = type(observer).__name__
                return observer
            except OSError as exc:          # e.g. the inotify watch limit: polling still works
                logger.warning("hot folder: the native file watcher failed (%s); polling instead", exc)
        observer = PollingObserver(timeout=max(self.cfg.poll_s, 0.1))
        observer.schedule(handler, root, recursive=True)
        observer.start()
        self.observer_kind = "PollingObserver"
        return observer

    # ------------------------------------------------------------------ what the observer reports

    def kind_of(self, path: Path) -> str | None:
        for kind, folder in self.folders.items():
            if path.parent == folder:
                return kind
        return None

    def notice(self, path: Path, *, fresh: bool = False) -> None:
        """A file was created or moved in (``fresh``), or written or closed: (re)start its stability clock.

        A file that is not fresh and is exactly as it was when last used (a rescan at start, a late
        event) is not a new drop; a fresh one is, so dropping the same clip again renders again.
        """
        kind = self.kind_of(path)
        if kind is None:
            return
        if classify_name(path.name) == NameKind.TEMP:
            logger.debug("hot folder: ignoring temp file %s", path)
            return
        identity = _identity(path)
        if identity is None:
            return                          # gone already, or a folder
        with self._cond:
            item = self._pending.get(path)
        if not fresh and item is None and self.log.find(path, *identity) is not None:
            return                          # this very file was used already (a rescan, a late event)
        with self._cond:
            item = self._pending.get(path)
            if item is None:
                self._pending[path] = _Pending(kind, identity, self._monotonic(), fresh=fresh)
            else:
                item.kind, item.identity, item.changed_at = kind, identity, self._monotonic()
                item.fresh = item.fresh or fresh
            self._cond.notify_all()

    def forget(self, path: Path) -> None:
        with self._cond:
            self._pending.pop(path, None)

    def scan(self) -> None:
        """Files already in the folders (dropped while the server was down), oldest first."""
        found: list[tuple[int, Path]] = []
        for folder in self.folders.values():
            for path in folder.iterdir():
                identity = _identity(path)
                if identity is not None:
                    found.append((identity[1], path))
        for _, path in sorted(found):
            self.notice(path)

    # ------------------------------------------------------------------ the stability loop

    def pending(self) -> list[Path]:
        with self._cond:
            return list(self._pending)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()           # nothing arriving: no polling at all
                if self._stopping:
                    return
                self._cond.wait(self.cfg.poll_s)
                if self._stopping:
                    return
                items = list(self._pending.items())
            for path, item in items:
                try:
                    self._check(path, item)
                except Exception:  # noqa: BLE001 - one bad file must not stop the watcher
                    logger.exception("hot folder: checking %s failed", path)
                    self.forget(path)

    def _check(self, path: Path, item: _Pending) -> None:
        now = self._monotonic()
        identity = _identity(path)
        if identity is None:
            self.forget(path)
            return
        with self._cond:
            if self._pending.get(path) is not item:        # forgotten or replaced since the loop looked
                return
            if identity != item.identity:
                item.identity, item.changed_at, item.waited_for = identity, now, None
                return
            if now - item.changed_at < self.cfg.stable_s:
                return
        size, _ = identity
        if not item.fresh and self.log.find(path, *identity) is not None:
            self.forget(path)
            return
        if classify_name(path.name) == NameKind.OTHER:
            allowed = ", ".join(sorted(AUDIO_SUFFIXES))
            self._reject(path, item.kind, identity, f"not an audio file (allowed: {allowed})")
            return
        if size > self.cfg.max_file_mb * 1024 * 1024:
            self._reject(path, item.kind, identity,
                         f"is {size / 2**20:.1f} MB, more than max_file_mb ({self.cfg.max_file_mb:g})")
            return
        if item.waited_for == identity:                  # probed already and unchanged since
            if now - item.changed_at >= self.cfg.incomplete_timeout_s:
                self._reject(path, item.kind, identity, f"is truncated: {item.reason}")
            return
        probe = probe_audio(path)
        if probe.verdict == Verdict.COMPLETE:
            self.forget(path)
            self.use(path, item.kind, identity)
        elif probe.verdict == Verdict.CORRUPT:
            self._reject(path, item.kind, identity, probe.reason)
        else:
            logger.debug("hot folder: %s %s; waiting", path.name, probe.reason)
            with self._cond:
                item.waited_for, item.reason = identity, probe.reason
            if now - item.changed_at >= self.cfg.incomplete_timeout_s:
                self._reject(path, item.kind, identity, f"is truncated: {probe.reason}")

    # ------------------------------------------------------------------ actions

    def use(self, path: Path, kind: str, identity: tuple[int, int]) -> None:
        """Journal the drop, act on it, record the outcome."""
        self._run(self.log.begin(path, kind, *identity))

    def _run(self, drop: Drop) -> None:
        path = Path(drop.path)
        try:
            job_id = self._act(drop)
        except ServerError as exc:
            self.log.finish(drop.seq, "rejected", error=str(exc))
            broadcast_error(self.server, DROP_ADDRESS, f"{path.name}: {exc}", code=exc.code)
            return
        self.log.finish(drop.seq, "done", job_id=job_id)
        logger.info("hot folder: %s drop %s%s", drop.kind, path.name, f" -> job {job_id}" if job_id else "")
        broadcast(self.server, DROP_ADDRESS, [drop.kind, str(path), job_id or ""])

    def _act(self, drop: Drop) -> str | None:
        """The drop's action, through the same Server methods OSC uses; returns the job id, if any."""
        path = Path(drop.path)
        pairs: list[Any] = []
        if drop.kind == "context":
            self.server.set_param("context", str(path))
            if not self.cfg.auto_generate:
                return None
        else:
            pairs += ["init", str(path)]
        if self.cfg.name_from_file and self.server.params.get("name") == default_value("name"):
            pairs += ["name", path.stem[:MAX_NAME_CHARS]]
        pairs += ["tag", drop_tag(drop.seq)]
        return self.server.submit(parse_pairs(pairs), source="hotfolder").id

    def _reject(self, path: Path, kind: str, identity: tuple[int, int], reason: str) -> None:
        self.forget(path)
        drop = self.log.begin(path, kind, *identity)
        self.log.finish(drop.seq, "rejected", error=reason)
        broadcast_error(self.server, DROP_ADDRESS, DropRejected(f"{path.name} ({kind}): {reason}"))

    # ------------------------------------------------------------------ restart

    def recover(self) -> None:
        """Finish drops a crash interrupted: matched to the job they queued, else run again."""
        for drop in self.log.unfinished():
            job_id = self.log.job_for_tag(drop_tag(drop.seq))
            if job_id is not None:
                self.log.finish(drop.seq, "done", job_id=job_id)
                continue
            if _identity(Path(drop.path)) != (drop.size, drop.mtime_ns):
                self.log.finish(drop.seq, "rejected", error="the file changed or left the folder before it was used")
                continue
            logger.info("hot folder: finishing the %s drop %s interrupted by a restart", drop.kind, drop.path)
            self._run(drop)

    def _restore_context(self) -> None:
        """After a restart the last context drop is the context again (parameters live in memory)."""
        drop = self.log.last_context()
        if drop is None or _identity(Path(drop.path)) != (drop.size, drop.mtime_ns):
            return
        try:
            self.server.set_param("context", drop.path)
        except ServerError as exc:
            logger.info("hot folder: cannot restore the context clip %s: %s", drop.path, exc)

    # ------------------------------------------------------------------ reporting

    def status_items(self) -> list[tuple[str, Any]]:
        return [("context_dir", str(self.folders["context"])), ("init_dir", str(self.folders["init"])),
                ("watching", int(self._observer is not None and not self._stopping)),
                ("observer", self.observer_kind), ("auto_generate", int(self.cfg.auto_generate)),
                ("pending", len(self.pending()))]


def _identity(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns) of a regular file, None for anything else or a file that went away."""
    try:
        st = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_size, st.st_mtime_ns


class _Events(FileSystemEventHandler):
    """watchdog's events, reduced to what changes a drop: created, written, closed, moved in or out, gone."""

    def __init__(self, folder: HotFolder) -> None:
        super().__init__()
        self.folder = folder

    def dispatch(self, event: Any) -> None:
        if event.is_directory:
            return
        kind = event.event_type
        try:
            if kind == "created":
                self.folder.notice(Path(_text(event.src_path)), fresh=True)
            elif kind in ("modified", "closed"):
                self.folder.notice(Path(_text(event.src_path)))
            elif kind == "moved":
                self.folder.forget(Path(_text(event.src_path)))
                self.folder.notice(Path(_text(event.dest_path)), fresh=True)
            elif kind == "deleted":
                self.folder.forget(Path(_text(event.src_path)))
        except Exception:  # noqa: BLE001 - the observer thread must survive anything
            logger.exception("hot folder: handling %s failed", event)


def _text(path: str | bytes) -> str:
    return path.decode() if isinstance(path, bytes) else path

