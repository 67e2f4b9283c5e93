"""`jbdiff download`: fetch published checkpoints into the cache, or list what is there."""

from __future__ import annotations

import argparse
import sys

from jbdiff.errors import JbdiffError
from jbdiff.store.download import download
from jbdiff.store.errors import UnknownCheckpoint
from jbdiff.store.paths import cache_dir
from jbdiff.store.registry import Registry, load_registry
from jbdiff.store.resolve import store_rows

DEFAULT_GROUP = "jbdiff-v1"
PROG = "jbdiff download"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `jbdiff download`."""
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"registry names, aliases or groups ('jbdiff-v1', 'all'); default: {DEFAULT_GROUP}",
    )
    parser.add_argument(
        "--dir",
        metavar="DIR",
        help="checkpoint folder (default: $JBDIFF_HOME/checkpoints or the user cache)",
    )
    parser.add_argument(
        "--mirror",
        metavar="URL",
        help="fetch from this base instead (http(s)://, file:// or a local folder holding the same file names)",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the registry with each file's status and exit"
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="with --list: hash files not verified yet (slow for GB files)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--force", action="store_true", help="download again even if a verified copy is present"
    )


def _list(args: argparse.Namespace, registry: Registry) -> int:
    rows = store_rows(args.dir, registry=registry, verify=args.verify)
    print(f"checkpoint folder: {cache_dir(args.dir)}")
    width = max(len(r.name) for r in rows)
    for r in rows:
        print(f"{r.name:<{width}}  {r.status:<8}  {r.size:<26}  {r.path.name}")
    groups = ", ".join(f"{g} = {' + '.join(m)}" for g, m in registry.groups.items())
    print(f"groups: {groups}")
    return 0


def run(args: argparse.Namespace, *, registry: Registry | None = None) -> int:
    """Run `jbdiff download`; 0 on success, 1 if a download failed, 2 for an unknown name."""
    try:
        reg = registry or load_registry()
        if args.list:
            return _list(args, reg)
        entries = reg.expand(args.names or [DEFAULT_GROUP])
    except UnknownCheckpoint as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except JbdiffError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    failed = 0
    for entry in entries:
        try:
            path = download(
                entry, args.dir, mirror=args.mirror, progress=not args.no_progress, force=args.force
            )
        except (JbdiffError, OSError) as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        except KeyboardInterrupt:
            print(
                f"{PROG}: interrupted; partial downloads are kept and resume on the next run",
                file=sys.stderr,
            )
            return 130
        print(f"{entry.name}: {path}")
    if failed:
        if len(entries) > 1:
            print(f"{PROG}: {failed} of {len(entries)} checkpoints failed", file=sys.stderr)
        return 1
    return 0

