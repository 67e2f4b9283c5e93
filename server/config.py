"""Server settings: one dataclass, defaults here only, loaded from YAML and overridden by flags."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import Any

from jbdiff.config import COMPILE_MODES, CONFIG_DIR, build, choice, read_yaml, rng
from jbdiff.errors import ConfigError

DEFAULT_CONFIG = CONFIG_DIR / "server.yaml"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


# ------------------------------------------------------------------ front ends (hot folder, MIDI, audio)

MAPPABLE_KINDS = ("float", "int", "seed", "bool", "choice")     # parameter kinds a MIDI value can drive


def _relative_folder(value: str, path: str) -> None:
    parts = PurePath(value).parts
    if not value or PurePath(value).is_absolute() or ".." in parts or value in (".",):
        raise ConfigError(f"{path}: {value!r} must be a folder name inside the drop folder (no '..', not absolute)")


@dataclass
class HotFolderConfig:
    """``hotfolder``: the drop folder watcher (context/ and init/ inside ``drop_folder``)."""

    enabled: bool = True
    context_dir: str = "context"          # a clip dropped here becomes the context clip
    init_dir: str = "init"                # a clip dropped here starts a variation of it
    auto_generate: bool = False           # a context drop also starts a generation
    stable_s: float = field(default=1.0, metadata=rng(0.01, 600.0))      # size and mtime unchanged this long
    poll_s: float = field(default=0.25, metadata=rng(0.01, 10.0))        # re-check of files still arriving
    # A file whose header promises more data than it holds waits this long for the rest, then is rejected.
    incomplete_timeout_s: float = field(default=30.0, metadata=rng(0.0, 86400.0))
    max_file_mb: float = field(default=1024.0, metadata=rng(0.001, 1 << 20))
    name_from_file: bool = True           # results of init drops are named after the clip (if `name` is unset)
    observer: str = field(default="auto", metadata=choice("auto", "polling"))   # polling: network shares

    def validate(self, path: str) -> None:
        _relative_folder(self.context_dir, f"{path}.context_dir")
        _relative_folder(self.init_dir, f"{path}.init_dir")
        a, b = PurePath(self.context_dir), PurePath(self.init_dir)
        if a == b or a in b.parents or b in a.parents:
            raise ConfigError(f"{path}: context_dir {self.context_dir!r} and init_dir {self.init_dir!r} "
                              "must be two separate folders")


@dataclass
class RangeMap:
    """A MIDI value 0 .. 127 onto a parameter: numbers scale linearly into min .. max, choices split evenly."""

    param: str
    min: float | None = None              # numbers: the value at 0 (required for float/int/seed)
    max: float | None = None              # numbers: the value at 127

    def validate(self, path: str) -> None:
        from server.params import PARAMS_BY_NAME

        spec = PARAMS_BY_NAME.get(self.param)
        if spec is None:
            raise ConfigError(f"{path}.param: {self.param!r} is not a parameter (allowed: {', '.join(PARAMS_BY_NAME)})")
        if spec.kind not in MAPPABLE_KINDS:
            raise ConfigError(f"{path}.param: {self.param} is a {spec.kind} parameter; MIDI can drive "
                              f"{', '.join(MAPPABLE_KINDS)} parameters only")
        if spec.kind in ("float", "int", "seed") and (self.min is None or self.max is None):
            raise ConfigError(f"{path}: {self.param} needs min and max (the values at MIDI 0 and 127)")


DEFAULT_CC: dict[int, RangeMap] = {
    1: RangeMap("noise_step_size", 0.0, 1.0),          # the mod wheel
    71: RangeMap("embedding_strength", 0.0, 10.0),
    72: RangeMap("init_strength", 0.0, 1.0),
    73: RangeMap("seconds", 1.0, 30.0),
    74: RangeMap("noise_style"),
}


def _midi_number(key: Any, path: str, lo: int = 0, hi: int = 127) -> int:
    if isinstance(key, str) and key.strip().isdigit():
        key = int(key)
    if isinstance(key, bool) or not isinstance(key, int) or not lo <= key <= hi:
        raise ConfigError(f"{path}: {key!r} is not a MIDI number (allowed: {lo} .. {hi})")
    return key


def _preset_names(raw: Mapping[Any, Any], path: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for key, name in raw.items():
        number = _midi_number(key, f"{path}.{key}")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{path}.{key}: expected a preset name, got {name!r}")
        out[number] = name
    return out


@dataclass
class MidiNotes:
    """``midi.notes``: what a note-on does (a generation)."""

    enabled: bool = True
    low: int = field(default=0, metadata=rng(0, 127))            # notes outside low .. high are ignored
    high: int = field(default=127, metadata=rng(0, 127))
    # Velocity onto a parameter of that job; null: ignored.
    velocity: RangeMap | None = field(default_factory=lambda: RangeMap("embedding_strength", 1.0, 6.0))
    note_to: str = field(default="seed", metadata=choice("seed", "preset", "none"))
    seed_offset: int = field(default=0, metadata=rng(0, 1 << 62))   # note_to seed: noise_seed = note + this
    presets: dict[int, str] = field(default_factory=dict)            # note_to preset: note -> preset name
    bars: float | None = field(default=None, metadata=rng(0.25, 1024.0))   # bar-length jobs at the live bpm

    def validate(self, path: str) -> None:
        if self.low > self.high:
            raise ConfigError(f"{path}: low ({self.low}) is above high ({self.high})")
        self.presets = _preset_names(self.presets, f"{path}.presets")


@dataclass
class MidiConfig:
    """``midi``: input port and the mapping from MIDI messages to server actions."""

    enabled: bool = True
    backend: str | None = None            # a mido backend module; null: $MIDO_BACKEND or mido's (python-rtmidi)
    port: str | None = None               # an input port name (or a unique part of one); null: none
    virtual_port: str | None = "jbdiff"   # open a virtual input with this name where the OS allows; null: off
    channel: int | None = field(default=None, metadata=rng(1, 16))   # listen to one channel; null: all
    notes: MidiNotes = field(default_factory=MidiNotes)
    cc: dict[int, RangeMap] = field(default_factory=lambda: dict(DEFAULT_CC))   # controller -> parameter
    programs: dict[int, str] = field(default_factory=dict)           # program -> preset; empty: Nth saved preset
    clock: bool = True                    # follow MIDI clock (24 per beat) into `bpm`
    clock_start: str = field(default="none", metadata=choice("none", "generate"))
    clock_stop: str = field(default="none", metadata=choice("none", "cancel"))

    def validate(self, path: str) -> None:
        cc: dict[int, RangeMap] = {}
        for key, value in self.cc.items():
            number = _midi_number(key, f"{path}.cc.{key}")
            where = f"{path}.cc.{number}"
            if isinstance(value, RangeMap):
                value.validate(where)
                cc[number] = value
            elif isinstance(value, Mapping):
                cc[number] = build(RangeMap, value, where)
            else:
                raise ConfigError(f"{where}: expected a mapping like {{param: init_strength, min: 0, max: 1}}")
        self.cc = cc
        self.programs = _preset_names(self.programs, f"{path}.programs")


@dataclass
class AudioConfig:
    """``audio``: the sound card used by /jbdiff/preview and /jbdiff/record_context (needs sounddevice)."""

    output_device: str | int | None = None    # a device name (or part of one) or index; null: the default
    input_device: str | int | None = None
    record_channels: int = field(default=2, metadata=rng(1, 2))
    record_max_s: float = field(default=120.0, metadata=rng(0.1, 3600.0))
    sample_rate: int = field(default=44100, metadata=rng(8000, 192000))

    def validate(self, path: str) -> None:
        for name in ("output_device", "input_device"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
                raise ConfigError(f"{path}.{name}: expected a device name or index, got {value!r}")


@dataclass
class ServerConfig:
    """Everything ``jbdiff serve`` reads from configs/server.yaml (every key optional)."""

    host: str = "127.0.0.1"
    port: int = field(default=9130, metadata=rng(0, 65535))          # 0: any free port (tests)
    reply_port: int = field(default=9131, metadata=rng(1, 65535))
    # Client addresses or networks allowed to talk to a server bound beyond loopback.
    allow: list[str] = field(default_factory=list)
    data_dir: str | None = None                                       # None: the platform's data dir
    # demo (built in), jbdiff-v1, tiny or a path; /jbdiff/model/set picks another for the next jobs.
    model: str = "demo"
    # One worker per entry: "auto", "cpu", "cuda:0", ...; "auto" alone means one per visible GPU.
    workers: list[str] = field(default_factory=lambda: ["auto"])
    # process: each worker in its own process (own CUDA context; a crash costs one job run, not the
    # server); thread: inside the server's process; auto: processes when there is more than one worker.
    worker_mode: str = field(default="auto", metadata=choice("auto", "thread", "process"))
    # A worker process that dies is restarted after this wait, doubled while it keeps dying, up to the max.
    restart_delay_s: float = field(default=1.0, metadata=rng(0.01, 600.0))
    restart_delay_max_s: float = field(default=60.0, metadata=rng(0.01, 3600.0))
    max_queue: int = field(default=32, metadata=rng(1, 10000))        # waiting jobs (running ones excluded)
    max_packet_bytes: int = field(default=8192, metadata=rng(64, 65507))
    progress_hz: float = field(default=4.0, metadata=rng(0.1, 30.0))
    recent_jobs: int = field(default=20, metadata=rng(0, 1000))       # finished jobs listed by /jbdiff/jobs
    on_shutdown: str = field(default="finish", metadata=choice("finish", "cancel"))
    drain_timeout_s: float = field(default=30.0, metadata=rng(0.0, 86400.0))
    max_attempts: int = field(default=3, metadata=rng(1, 100))        # runs interrupted by crashes, then failed
    max_clients: int = field(default=64, metadata=rng(1, 10000))      # remembered /jbdiff/hello registrations
    drop_folder: str | None = None                                    # None: <data_dir>/drop
    library_folders: list[str] = field(default_factory=list)
    # torch CPU threads for rendering; None: all cores but one, left for the OSC receiver (and the DAW).
    cpu_threads: int | None = field(default=None, metadata=rng(1, 1024))
    # torch.compile the networks on CUDA workers (off | default | max-autotune): each worker's first
    # render per model compiles for minutes, later ones are faster. JBDIFF_COMPILE also turns it on.
    compile: str = field(default="off", metadata=choice(*COMPILE_MODES))
    # "module:function(device) -> engine": a custom engine (tests, experiments); None: the Pipeline.
    engine_factory: str | None = None
    hotfolder: HotFolderConfig = field(default_factory=lambda: HotFolderConfig())
    midi: MidiConfig = field(default_factory=lambda: MidiConfig())
    audio: AudioConfig = field(default_factory=lambda: AudioConfig())

    def validate(self, path: str) -> None:
        """Cross-field rules: a non-loopback bind needs an allow-list; networks must parse."""
        for i, entry in enumerate(self.allow):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(f"{path}.allow[{i}]: {entry!r} is not an IP address or network") from None
        if not is_loopback(self.host) and not self.allow:
            raise ConfigError(
                f"{path}.host: {self.host!r} is reachable from other machines; list the client addresses "
                "allowed to connect in 'allow' (e.g. allow: [192.168.1.20]) or bind 127.0.0.1"
            )
        if not self.workers:
            raise ConfigError(f"{path}.workers: needs at least one entry (e.g. [auto] or [cuda:0])")
        if self.restart_delay_max_s < self.restart_delay_s:
            raise ConfigError(f"{path}.restart_delay_max_s: {self.restart_delay_max_s} is below "
                              f"restart_delay_s ({self.restart_delay_s})")

    # ---------------------------------------------------------------- derived paths

    @property
    def data_path(self) -> Path:
        """The data dir: journal, output/, presets/, drop/."""
        if self.data_dir:
            return Path(os.path.expanduser(self.data_dir)).resolve()
        import platformdirs

        return platformdirs.user_data_path("jbdiff").resolve()

    @property
    def output_dir(self) -> Path:
        return self.data_path / "output"

    @property
    def presets_dir(self) -> Path:
        return self.data_path / "presets"

    @property
    def journal_path(self) -> Path:
        return self.data_path / "jobs.sqlite"

    @property
    def models_dir(self) -> Path:
        """Bundles and model configs a client may select by file name (/jbdiff/model/set)."""
        return self.data_path / "models"

    @property
    def model_selection_path(self) -> Path:
        """The model chosen over OSC, kept across restarts."""
        return self.data_path / "model.json"

    @property
    def drop_path(self) -> Path:
        if self.drop_folder:
            return Path(os.path.expanduser(self.drop_folder)).resolve()
        return self.data_path / "drop"

    @property
    def context_path(self) -> Path:
        """Drop folder for context clips."""
        return self.drop_path / self.hotfolder.context_dir

    @property
    def init_path(self) -> Path:
        """Drop folder for init clips (each starts a variation)."""
        return self.drop_path / self.hotfolder.init_dir

    @property
    def roots(self) -> list[Path]:
        """Folders that paths in messages may point into (drop folder first: relative paths)."""
        return [self.drop_path] + [Path(os.path.expanduser(p)).resolve() for p in self.library_folders]

    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(entry, strict=False) for entry in self.allow]


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_server_config(data: Mapping[str, Any] | None, source: str = "server") -> ServerConfig:
    """Validate a mapping (unknown keys and out-of-range values raise ConfigError naming them)."""
    data = dict(data or {})
    if isinstance(data.get("workers"), str):
        data["workers"] = [data["workers"]]
    if isinstance(data.get("allow"), str):
        data["allow"] = [data["allow"]]
    return build(ServerConfig, data, source)


def load_server_config(path: str | Path | None = None, **overrides: Any) -> ServerConfig:
    """Read YAML (default: the bundled configs/server.yaml), then apply non-None overrides."""
    source = Path(path) if path is not None else DEFAULT_CONFIG
    raw = read_yaml(source) if source.exists() or path is not None else {}
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a YAML mapping at the top level")
    data = dict(raw or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    if data.get("compile") is False:   # YAML reads a bare `off` as false
        data["compile"] = "off"
    try:
        return parse_server_config(data, "server")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def with_overrides(cfg: ServerConfig, **changes: Any) -> ServerConfig:
    """A validated copy with some fields changed (tests, CLI)."""
    out = replace(cfg, **changes)
    out.validate("server")
    return out
