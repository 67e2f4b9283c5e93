"""``jbdiff serve``: flags over configs/server.yaml, then run until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from server.config import DEFAULT_CONFIG, ServerConfig, load_server_config

logger = logging.getLogger("server")
GIL_SWITCH_INTERVAL_S = 0.0005


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``jbdiff serve`` (each overrides the same key of the config file)."""
    parser.add_argument("--config", default=None, help=f"server config YAML (default: {DEFAULT_CONFIG.name})")
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=None, help="OSC port to listen on (default 9130)")
    parser.add_argument("--reply-port", type=int, default=None, help="port replies go to (default 9131)")
    parser.add_argument("--data-dir", default=None, help="journal, output/, presets/ and drop/ (default: the "
                        "platform's user data folder)")
    parser.add_argument("--model", default=None, help="demo (built in, the default), jbdiff-v1 (published "
                        "weights), tiny, a .safetensors bundle or a YAML path")
    parser.add_argument("--tiny", action="store_true", help="tiny random-weight models: try it all on a laptop")
    parser.add_argument("--device", default=None, help="one worker on this device (auto, cpu, cuda:N, mps)")
    parser.add_argument("--workers", default=None, metavar="DEVICES",
                        help="one worker per device, comma-separated (e.g. cuda:0,cuda:1), or auto: one per GPU")
    parser.add_argument("--allow", action="append", default=None, metavar="ADDR",
                        help="client address or network allowed when --host is not loopback (repeatable)")
    parser.add_argument("--on-shutdown", choices=("finish", "cancel"), default=None,
                        help="on SIGINT/SIGTERM: finish the running job (default) or cancel it (it runs "
                        "again at the next start)")


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The config file with the flags that were given laid over it."""
    return load_server_config(
        args.config, host=args.host, port=args.port, reply_port=args.reply_port, data_dir=args.data_dir,
        model="tiny" if args.tiny else args.model, workers=_workers(args),
        allow=args.allow, on_shutdown=args.on_shutdown,
    )


def _workers(args: argparse.Namespace) -> list[str] | None:
    """``--workers a,b`` or ``--device d`` (not both); None keeps the config file's list."""
    from jbdiff.errors import ConfigError

    if args.workers and args.device:
        raise ConfigError("--workers and --device: give one of them (--device is one worker on one device)")
    if args.workers:
        return [d.strip() for d in args.workers.split(",") if d.strip()]
    return [args.device] if args.device else None


def run(args: argparse.Namespace) -> int:
    """Start, serve until a signal, drain; returns the exit code."""
    from server.app import Server
    from server.frontends import install_front_ends

    cfg = config_from_args(args)
    # The worker thread runs Python between tensor ops; a short GIL switch interval (default 5 ms)
    # lets the OSC receiver in within a fraction of a millisecond while a job renders.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    set_cpu_threads(cfg.cpu_threads)
    server = Server(cfg)
    install_front_ends(server)  # hot folder, MIDI, audio device: each says once if it cannot run
    server.start()
    return server.serve_forever()


def set_cpu_threads(threads: int | None) -> int:
    """torch's CPU thread count for rendering: as configured, else every core but one."""
    import os

    import torch

    n = threads or max(1, (os.cpu_count() or 2) - 1)
    torch.set_num_threads(n)
    return n


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m server``: the same as ``jbdiff serve`` without the jbdiff front door."""
    from jbdiff.cli import setup_logging
    from jbdiff.errors import ConfigError, JbdiffError

    parser = argparse.ArgumentParser(prog="python -m server", description="jbdiff OSC server")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-q", "--quiet", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    try:
        return run(args)
    except JbdiffError as exc:       # exit codes as jbdiff.cli: 2 for a bad setting, 1 otherwise
        print(f"jbdiff serve: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
