"""Build the Max for Live device file ``jbdiff.amxd`` from its readable source ``jbdiff.maxpat``.

The ``.amxd`` container (as Live and Max read it; reverse-engineered, no public spec) is a run of
chunks, each ``tag`` (4 ASCII bytes) + ``size`` (uint32, little-endian) + ``size`` bytes of data:

====  ====  ===============================================================================
tag   size  data
====  ====  ===============================================================================
ampf  4     device type: ``aaaa`` audio effect, ``mmmm`` MIDI effect, ``iiii`` instrument
meta  4     uint32 little-endian; 1 for a plain (unfrozen) device
ptch  n     the patcher: the ``.maxpat`` JSON text, UTF-8, ending in ``\\n`` and one NUL byte
====  ====  ===============================================================================

A frozen device stores an ``mx@c`` collective (the patcher plus every dependency) in ``ptch``
instead; this script never freezes: the device's JavaScript files stay next to the ``.amxd``.
The output depends only on the source bytes (no time stamps), so rebuilding is reproducible
and ``--check`` can tell whether the committed ``.amxd`` is up to date.

    python max_for_live/build.py            # writes max_for_live/device/jbdiff.amxd
    python max_for_live/build.py --check    # exit 1 if the .amxd differs from a fresh build
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "device" / "jbdiff.maxpat"
OUTPUT = HERE / "device" / "jbdiff.amxd"
DEVICE_TYPES = {"audio": b"aaaa", "midi": b"mmmm", "instrument": b"iiii"}
META_PLAIN = 1


class AmxdError(ValueError):
    """A patcher that cannot become a device, or bytes that are not a device file."""


def chunk(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack("<I", len(data)) + data


def patcher_payload(text: str) -> bytes:
    """The ``ptch`` data: the JSON text with LF line ends, a final newline and a NUL."""
    text = text.replace("\r\n", "\n")
    try:
        patch = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AmxdError(f"the patcher is not valid JSON: {exc}") from None
    if not isinstance(patch, dict) or not isinstance(patch.get("patcher"), dict):
        raise AmxdError("the patcher JSON has no top-level 'patcher' object")
    if not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8") + b"\x00"


def amxd_bytes(text: str, device_type: str = "audio") -> bytes:
    """The whole ``.amxd`` file for a patcher's JSON text."""
    if device_type not in DEVICE_TYPES:
        raise AmxdError(f"device type {device_type!r} (allowed: {', '.join(DEVICE_TYPES)})")
    return (chunk(b"ampf", DEVICE_TYPES[device_type]) + chunk(b"meta", struct.pack("<I", META_PLAIN))
            + chunk(b"ptch", patcher_payload(text)))


def read_amxd(data: bytes) -> dict[str, bytes]:
    """Chunks of a device file by tag (the inverse of :func:`amxd_bytes`, for checks)."""
    chunks: dict[str, bytes] = {}
    offset = 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise AmxdError(f"truncated chunk header at byte {offset}")
        tag = data[offset:offset + 4].decode("ascii", errors="replace")
        (size,) = struct.unpack("<I", data[offset + 4:offset + 8])
        if offset + 8 + size > len(data):
            raise AmxdError(f"chunk {tag!r} at byte {offset} runs past the end ({size} bytes)")
        chunks[tag] = data[offset + 8:offset + 8 + size]
        offset += 8 + size
    if list(chunks)[:1] != ["ampf"]:
        raise AmxdError("not a Max for Live device (the file must start with an 'ampf' chunk)")
    return chunks


def build(source: Path = SOURCE, output: Path = OUTPUT, device_type: str = "audio") -> bytes:
    data = amxd_bytes(source.read_text(encoding="utf-8"), device_type)
    output.write_bytes(data)
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build jbdiff.amxd from jbdiff.maxpat")
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--type", choices=sorted(DEVICE_TYPES), default="audio", help="device type")
    parser.add_argument("--check", action="store_true", help="only compare the output with a fresh build")
    args = parser.parse_args(argv)
    try:
        fresh = amxd_bytes(args.source.read_text(encoding="utf-8"), args.type)
    except (OSError, AmxdError) as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_bytes() if args.output.exists() else b""
        if current != fresh:
            print(f"{args.output} is out of date: run python max_for_live/build.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_bytes(fresh)
    print(f"wrote {args.output} ({len(fresh)} bytes, {args.type} device)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
