"""The data recipe on synthetic packages: determinism, whole-track holdout, manifest, carry copy."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from training.data import debian
from training.data.dataset import AudioChunkDataset
from training.data.debian import UnpackedPackage, resolve_in_tree
from training.data.errors import DataError
from training.data.recipe import RecipeConfig, build, build_from_unpacked, clip_offsets
from training.data.synth import synth_track

PKG = "fake-music"
MUSIC = "usr/share/games/fake/music"
# name -> (seconds, sample rate, channels); "short" is below min_track_seconds.
TRACKS = {
    "alpha": (3.5, 44100, 2),
    "beta": (2.6, 22050, 1),
    "gamma": (4.2, 48000, 2),
    "delta": (3.0, 44100, 2),
    "eps": (2.2, 44100, 2),
    "short": (1.5, 44100, 2),
}
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fake

Files: *
Copyright: 2024 Nobody
License: GPL-2+

Files: music/zeta.ogg
Copyright: 2024 Somebody
License: CC-BY-SA-3.0
"""
CONFIG = RecipeConfig(clip_seconds=1.0, clips_per_track=2, min_track_seconds=2.0, val_tracks=2)


def make_tree(root: Path) -> Path:
    """Write an unpacked-package tree: OGG tracks, one zipped in a .pk3, and a DEP-5 copyright."""
    music = root / MUSIC
    music.mkdir(parents=True)
    for i, (name, (sec, rate, ch)) in enumerate(TRACKS.items()):
        sf.write(
            music / f"{name}.ogg",
            synth_track(sec, rate, seed=i, channels=ch),
            rate,
            format="OGG",
            subtype="VORBIS",
        )
    zeta = root.parent / "zeta.ogg"
    sf.write(zeta, synth_track(2.5, 44100, seed=99), 44100, format="OGG", subtype="VORBIS")
    (root / "usr/share/games/fake/base").mkdir(parents=True)
    with zipfile.ZipFile(root / "usr/share/games/fake/base/music.pk3", "w") as zf:
        zf.write(zeta, "music/zeta.ogg")
        zf.writestr("scripts/readme.txt", "not audio")
    doc = root / "usr/share/doc" / PKG
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    return root


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> UnpackedPackage:
    root = make_tree(tmp_path_factory.mktemp("pkg") / PKG)
    return UnpackedPackage(name=PKG, version="1.0-1", root=root)


@pytest.fixture(scope="module")
def built(package, tmp_path_factory):
    """One build with a carry copy, shared by the read-only checks below."""
    base = tmp_path_factory.mktemp("built")
    res = build_from_unpacked([package], base / "out", CONFIG, carry_dir=base / "carry")
    return res, base / "out", base / "carry"


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.wav"))
    }


def test_rebuild_gives_identical_bytes(package, built, tmp_path):
    _, out1, _ = built
    build_from_unpacked([package], tmp_path / "out2", CONFIG)
    assert (out1 / "manifest.json").read_bytes() == (tmp_path / "out2/manifest.json").read_bytes()
    assert (out1 / "manifest.csv").read_bytes() == (tmp_path / "out2/manifest.csv").read_bytes()
    h1, h2 = _hashes(out1), _hashes(tmp_path / "out2")
    assert h1 == h2 and len(h1) > 0
    manifest = json.loads((out1 / "manifest.json").read_text())
    assert {c["file"]: c["sha256"] for c in manifest["clips"]} == h1


def test_rebuild_in_place_replaces_old_clips(package, tmp_path):
    out = tmp_path / "out"
    build_from_unpacked([package], out, CONFIG)
    first = _hashes(out)
    build_from_unpacked(
        [package],
        out,
        RecipeConfig(clip_seconds=1.0, clips_per_track=1, min_track_seconds=2.0, val_tracks=2),
    )
    second = _hashes(out)
    assert len(second) < len(first)  # stale clips of the first build are gone
    names = {c["file"] for c in json.loads((out / "manifest.json").read_text())["clips"]}
    assert names == set(second)


def test_whole_tracks_are_held_out(built):
    res, out, _ = built
    m = res.manifest
    split_of_track: dict[str, set[str]] = {}
    for c in m["clips"]:
        split_of_track.setdefault(c["track"], set()).add(c["split"])
        assert (out / c["file"]).parent.name == c["split"]
    assert all(len(s) == 1 for s in split_of_track.values())
    val = {t for t, s in split_of_track.items() if s == {"val"}}
    assert len(val) == CONFIG.val_tracks
    rows = {r["path"]: r for r in m["tracks"]}
    assert (
        rows[f"{MUSIC}/short.ogg"]["split"] == "skipped"
        and rows[f"{MUSIC}/short.ogg"]["clips"] == 0
    )
    assert m["totals"]["val"]["tracks"] == 2 and m["totals"]["skipped_tracks"] == 1
    # 7 tracks found (6 files + 1 in the pk3), one too short
    assert len(m["tracks"]) == 7 and m["totals"]["train"]["tracks"] == 4


def test_val_choice_is_independent_of_other_settings(package, built, tmp_path):
    res, _, _ = built
    other = build_from_unpacked(
        [package],
        tmp_path / "o",
        RecipeConfig(clip_seconds=0.5, clips_per_track=3, min_track_seconds=2.0, val_tracks=2),
    )
    val = lambda m: {c["track"] for c in m["clips"] if c["split"] == "val"}  # noqa: E731
    assert val(res.manifest) == val(other.manifest)


def test_manifest_fields_and_clip_content(built, package):
    res, out, _ = built
    m = res.manifest
    assert m["packages"][0]["name"] == PKG and m["packages"][0]["version"] == "1.0-1"
    assert (out / "licenses" / PKG / "copyright").read_text() == COPYRIGHT
    for c in m["clips"]:
        assert c["package"] == PKG and c["version"] == "1.0-1"
        assert c["samples"] == 44100 and c["sample_rate"] == 44100 and c["channels"] == 2
        audio, rate = sf.read(out / c["file"], dtype="float32", always_2d=True)
        assert rate == 44100 and audio.shape == (44100, 2)
        assert c["offset_seconds"] == pytest.approx(c["offset_samples"] / 44100, abs=1e-6)
    lic = {c["track"]: c["licence"] for c in m["clips"]}
    assert lic["usr/share/games/fake/base/music.pk3!music/zeta.ogg"] == "CC-BY-SA-3.0"
    assert lic[f"{MUSIC}/alpha.ogg"] == "GPL-2+"
    # the clip holds the source samples at its offset (44.1 kHz source: no resampling involved)
    src, _ = sf.read(package.root / MUSIC / "alpha.ogg", dtype="float32", always_2d=True)
    for c in (c for c in m["clips"] if c["track"] == f"{MUSIC}/alpha.ogg"):
        clip, _ = sf.read(out / c["file"], dtype="float32", always_2d=True)
        o = c["offset_samples"]
        np.testing.assert_allclose(clip, src[o : o + 44100], atol=1.5 / 32767)
    # mono source came out as two equal channels
    for c in (c for c in m["clips"] if c["track"].endswith("beta.ogg")):
        clip, _ = sf.read(out / c["file"], dtype="int16", always_2d=True)
        assert np.array_equal(clip[:, 0], clip[:, 1]) and np.abs(clip).max() > 1000
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["sha256"] for r in rows] == [c["sha256"] for c in m["clips"]]


def test_clip_offsets_spread_without_overlap():
    for track in (44100, 100_000, 882_000, 3_000_000, 10_000_000):
        for clip in (4410, 44100, 882_000):
            for n in (1, 3, 5):
                offs = clip_offsets(track, clip, n)
                assert len(offs) == min(n, track // clip)
                assert all(0 <= o <= track - clip for o in offs)
                assert np.all(np.diff(offs) >= clip)
                if len(offs) >= 3:  # evenly spaced, up to rounding
                    gaps = np.diff(offs)
                    assert gaps.max() - gaps.min() <= 1


def test_carry_copy_is_small_vorbis_with_manifest(built):
    res, out, carry = built
    assert (carry / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()
    assert (carry / "licenses" / PKG / "copyright").read_text() == COPYRIGHT
    oggs = sorted(carry.rglob("*.ogg"))
    assert len(oggs) == len(res.manifest["clips"])
    for c in res.manifest["clips"]:
        info = sf.info(carry / Path(c["file"]).with_suffix(".ogg"))
        assert info.format == "OGG" and info.subtype == "VORBIS"
        assert info.samplerate == 44100 and info.channels == 2
        assert abs(info.frames - c["samples"]) < 1000
    wav_bytes = sum(p.stat().st_size for p in out.rglob("*.wav"))
    ogg_bytes = sum(p.stat().st_size for p in oggs)
    assert ogg_bytes * 4 < wav_bytes
    assert res.carry_bytes == sum(p.stat().st_size for p in carry.rglob("*") if p.is_file())
    carry_info = json.loads((carry / "carry.json").read_text())
    assert carry_info["audio_bytes"] == ogg_bytes


def test_dataset_reads_carry_copy_with_recipe_splits(built, tmp_path):
    res, _, carry = built
    ds = AudioChunkDataset(
        carry,
        chunk_samples=11025,
        context_mult=1,
        split="val",
        aug_shift=False,
        cache_dir=tmp_path / "cache",
    )
    val_files = {
        Path(c["file"]).with_suffix("").as_posix()
        for c in res.manifest["clips"]
        if c["split"] == "val"
    }
    assert set(ds.split_keys) == val_files
    assert len(ds) == len(val_files) * 4  # nominal 44100 samples each, cropped/padded from Vorbis


def test_refuses_to_write_into_foreign_folder(package, tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(DataError, match="not empty"):
        build_from_unpacked([package], tmp_path, CONFIG)
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_too_many_val_tracks_and_missing_copyright(package, tmp_path):
    with pytest.raises(DataError, match="val_tracks=6"):
        build_from_unpacked(
            [package],
            tmp_path / "a",
            RecipeConfig(clip_seconds=1.0, min_track_seconds=2.0, val_tracks=6),
        )
    bare = tmp_path / "bare" / PKG
    shutil.copytree(package.root / MUSIC, bare / MUSIC)
    with pytest.raises(DataError, match="copyright"):
        build_from_unpacked([UnpackedPackage(PKG, "1", bare)], tmp_path / "b", CONFIG)
    with pytest.raises(DataError, match="clip_seconds"):
        RecipeConfig(clip_seconds=0.0)


def test_copyright_found_through_symlinked_doc_dir(tmp_path):
    root = tmp_path / "pkg"
    (root / "usr/share/doc/other").mkdir(parents=True)
    (root / "usr/share/doc/other/copyright").write_text("x")
    (root / "usr/share/doc/fake-music").symlink_to("other")
    assert UnpackedPackage("fake-music", "1", root).copyright_path.read_text() == "x"
    (root / "usr/share/doc/abs").symlink_to("/usr/share/doc/other")
    assert (
        resolve_in_tree(root, Path("usr/share/doc/abs/copyright"))
        == root / "usr/share/doc/other/copyright"
    )


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb to build a .deb")
def test_build_from_existing_deb_needs_no_network(package, tmp_path, monkeypatch):
    stage = tmp_path / "stage"
    shutil.copytree(package.root, stage)
    (stage / "DEBIAN").mkdir()
    (stage / "DEBIAN/control").write_text(
        f"Package: {PKG}\nVersion: 2:1.2-3\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: test\n"
    )
    debs = tmp_path / "debs"
    debs.mkdir()
    deb = debs / f"{PKG}_2%3a1.2-3_all.deb"
    subprocess.run(
        ["dpkg-deb", "--build", "-Zgzip", "-z1", str(stage), str(deb)],
        check=True,
        capture_output=True,
    )
    real_run = debian._run

    def no_apt(cmd, **kw):
        assert cmd[0] != "apt-get", "must reuse the downloaded .deb"
        return real_run(cmd, **kw)

    monkeypatch.setattr(debian, "_run", no_apt)
    res = build([PKG], tmp_path / "out", CONFIG, download_dir=debs, work_dir=tmp_path / "work")
    p = res.manifest["packages"][0]
    assert p["version"] == "2:1.2-3"
    assert p["deb_sha256"] == hashlib.sha256(deb.read_bytes()).hexdigest()
    assert res.clips["val"] > 0 and res.clips["train"] > 0


def test_apt_failures_are_reported(tmp_path, monkeypatch):
    calls = []

    def fake(cmd, **kw):
        calls.append(cmd[:2])
        return subprocess.CompletedProcess(cmd, 100, "", f"E: failed {cmd[1]}")

    monkeypatch.setattr(debian, "_run", fake)
    with pytest.raises(DataError, match="apt-get update.*failed.*E: failed update"):
        debian.download_deb("nosuch-music", tmp_path)
    assert calls == [["apt-get", "download"], ["apt-get", "update"]]
