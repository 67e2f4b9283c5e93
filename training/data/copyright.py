"""Licence of each track from a package's Debian copyright file (DEP-5 when machine-readable)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

DEP5_MARK = "copyright-format"

# Licences of the game-music packages the recipe knows (read from their copyright files, see
# docs/data.md); used when the file is free-form text rather than DEP-5.
KNOWN_LICENCES: dict[str, str] = {
    "wesnoth-1.16-music": "GPL-2+",
    "warzone2100-music": "GPL-2+",
    "nexuiz-music": "GPL-2+",
    "singularity-music": "CC-BY-SA-3.0",
    "ufoai-music": "GPL-2+ / CC-BY(-SA)-3.0 per file",
}


@dataclass(frozen=True)
class FilesStanza:
    """One `Files:` paragraph: glob patterns and the short licence name they carry."""

    patterns: tuple[str, ...]
    licence: str


def _paragraphs(text: str) -> list[dict[str, str]]:
    """Split RFC-822-style text into paragraphs of {field: first-line value}."""
    paras: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if cur:
                paras.append(cur)
            cur, last = {}, None
            continue
        if line[0] in " \t":
            if last is not None and last == "Files":
                cur[last] += " " + line.strip()
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        last = key.strip()
        cur[last] = value.strip()
    if cur:
        paras.append(cur)
    return paras


def parse_dep5(text: str) -> list[FilesStanza] | None:
    """Return the Files stanzas of a DEP-5 copyright file, or None when the text is free-form."""
    paras = _paragraphs(text)
    if not paras or DEP5_MARK not in paras[0].get("Format", ""):
        return None
    stanzas = []
    for p in paras:
        if "Files" in p and "License" in p:
            stanzas.append(FilesStanza(tuple(p["Files"].split()), p["License"]))
    return stanzas


def licence_for(track_path: str, stanzas: list[FilesStanza]) -> str | None:
    """DEP-5 rule: the last stanza whose pattern matches wins; installed paths match by suffix."""
    names = [track_path]
    if "!" in track_path:  # a member of an archive: match its path inside the archive too
        names.append(track_path.split("!", 1)[1])
    found = None
    for st in stanzas:
        if any(
            fnmatch.fnmatchcase(n, pat) or fnmatch.fnmatchcase(n, "*/" + pat)
            for n in names
            for pat in st.patterns
        ):
            found = st.licence
    return found


def track_licence(package: str, track_path: str, copyright_text: str) -> str:
    """Best licence string for a track: DEP-5 match, else the known package licence, else a pointer."""
    stanzas = parse_dep5(copyright_text)
    if stanzas:
        lic = licence_for(track_path, stanzas)
        if lic:
            return lic
    if package in KNOWN_LICENCES:
        return KNOWN_LICENCES[package]
    return f"see licenses/{package}/copyright"
