"""Server settings: one dataclass, defaults here only, loaded from YAML and overridden by flags."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jbdiff.config import CONFIG_DIR, build, choice, read_yaml, rng
from jbdiff.errors import ConfigError

DEFAULT_CONFIG = CONFIG_DIR / "server.yaml"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass
class ServerConfig:
    """Everything ``jbdiff serve`` reads from configs/server.yaml (every key optional)."""

    host: str = "127.0.0.1"
    port: int = field(default=9130, metadata=rng(0, 65535))          # 0: any free port (tests)
    reply_port: int = field(default=9131, metadata=rng(1, 65535))
    # Client addresses or networks allowed to talk to a server bound beyond loopback.
    allow: list[str] = field(default_factory=list)
    data_dir: str | None = None                                       # None: the platform's data dir
    model: str = "jbdiff-v1"                                          # name or path; "tiny": random weights
    # One worker per entry: "auto", "cpu", "cuda:0", ...; "auto" alone means one per visible GPU.
    workers: list[str] = field(default_factory=lambda: ["auto"])
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
    # "module:function(device) -> engine": a custom engine (tests, experiments); None: the Pipeline.
    engine_factory: str | None = None
    # Reserved for the hot folder and MIDI services (validated by their own modules).
    hotfolder: dict[str, Any] = field(default_factory=dict)
    midi: dict[str, Any] = field(default_factory=dict)

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
    def drop_path(self) -> Path:
        if self.drop_folder:
            return Path(os.path.expanduser(self.drop_folder)).resolve()
        return self.data_path / "drop"

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
    try:
        return parse_server_config(data, "server")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def with_overrides(cfg: ServerConfig, **changes: Any) -> ServerConfig:
    """A validated copy with some fields changed (tests, CLI)."""
    out = replace(cfg, **changes)
    out.validate("server")
    return out
