"""Model bundles (jbdiff.bundle) and the demo recipe: round trips, checksums, end-to-end tiny training."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from jbdiff.bundle import load_bundle, read_bundle_metadata, save_bundle
from jbdiff.errors import CheckpointError
from jbdiff.models import tiny_models
from jbdiff.pipeline import Pipeline
from jbdiff.request import GenerationRequest
from training import demo_recipe
from training.data.synth import write_synth_folder

pytestmark = pytest.mark.filterwarnings("ignore:.*(exists and is not empty|in eval mode|LeafSpec|dirpath has changed)")

REQ = dict(seconds_length=0.5, noise_seed=1, dd_noise_seed=2, num_steps={2: 2, 1: 2, 0: 1, "dd": 2})


def test_fp32_bundle_round_trip_generates_identical_audio(tmp_path):
    digest = save_bundle(tmp_path / "t.safetensors", tiny_models(0), dtype="float32", name="t")
    loaded = load_bundle(tmp_path / "t.safetensors")
    assert loaded.hashes["bundle"] == digest and loaded.name == "t"
    assert sorted(loaded.unets) == [0, 1, 2] and loaded.dance is not None
    a = Pipeline(tiny_models(0)).generate(GenerationRequest(**REQ)).audio
    b = Pipeline(loaded).generate(GenerationRequest(**REQ)).audio
    assert np.array_equal(a, b)


def test_fp16_bundle_holds_rounded_weights_and_exact_codebooks(tmp_path):
    models = tiny_models(0)
    save_bundle(tmp_path / "h.safetensors", models)
    assert (tmp_path / "h.safetensors").stat().st_size < 0.6 * sum(
        p.numel() * 4 for m in models.modules() for p in m.state_dict().values())
    loaded = load_bundle(tmp_path / "h.safetensors")
    for name, v in models.unets[1].state_dict().items():
        assert torch.equal(loaded.unets[1].state_dict()[name], v.half().float())
    k = models.vqvae.bottleneck.level_blocks[2].k
    assert torch.equal(loaded.vqvae.bottleneck.level_blocks[2].k, k)
    meta = read_bundle_metadata(tmp_path / "h.safetensors")
    assert json.loads(meta["model_config"])["vqvae"]["preset"] == "tiny"
    assert loaded.sampling_cfg.level(1).init_strength == models.sampling_cfg.level(1).init_strength


def test_the_demo_models_bundle_leaves_a_gpu_job_as_one_file(tmp_path):
    from jbdiff.config import load_config
    from jbdiff.models import LoadedModels, build_dance, build_unet, build_vqvae

    cfg = load_config("demo")
    m = cfg.model
    models = LoadedModels(build_vqvae(m.vqvae), {lvl: build_unet(m.diffusion[lvl], m.embedding_max_length(lvl))
                                                 for lvl in (2, 1, 0)}, build_dance(m.dd), m, cfg.sampling)
    save_bundle(tmp_path / "demo.safetensors", models)
    assert (tmp_path / "demo.safetensors").stat().st_size <= demo_recipe.OUT_FILE_LIMIT


def test_big_bundles_leave_a_gpu_job_in_pieces(tmp_path, monkeypatch):
    out, dest = tmp_path / "run", tmp_path / "dest"
    out.mkdir()
    save_bundle(out / "demo.safetensors", tiny_models(0))
    monkeypatch.setattr(demo_recipe, "OUT_FILE_LIMIT", 400_000)
    files = demo_recipe._copy_results(out, dest, "demo")
    parts = sorted(p for p in files if ".part" in p.name)
    assert len(parts) == 3 and all(p.stat().st_size <= 400_000 for p in parts) and len(files) <= 8
    (tmp_path / "joined.safetensors").write_bytes(b"".join(p.read_bytes() for p in parts))
    expected = (out / "demo.safetensors.sha256").read_text().split()[0]
    assert load_bundle(tmp_path / "joined.safetensors", expected_sha256=expected).unets


def test_results_carry_this_runs_sample_not_an_older_one(tmp_path):
    out, dest = tmp_path / "run", tmp_path / "dest"
    for name, payload in (("demo_00000000_00000000", b"old"), ("demo_00000000_00000000_0000", b"new")):
        (out / "samples" / name).mkdir(parents=True)
        (out / "samples" / name / "final_audio.wav").write_bytes(payload)
    files = demo_recipe._copy_results(out, dest, "demo", out / "samples" / "demo_00000000_00000000_0000")
    assert (dest / "sample.wav").read_bytes() == b"new" and dest / "sample.wav" in files
    demo_recipe._copy_results(out, tmp_path / "dest2", "demo")
    assert not (tmp_path / "dest2" / "sample.wav").exists()


def test_bundles_follow_the_umask_and_leave_no_part_file(tmp_path, monkeypatch):
    old = os.umask(0o022)
    try:
        save_bundle(tmp_path / "b.safetensors", tiny_models(0))
    finally:
        os.umask(old)
    assert (tmp_path / "b.safetensors").stat().st_mode & 0o777 == 0o644

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(tmp_path / "c.safetensors", tiny_models(0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.safetensors", "b.safetensors.sha256"]


def test_checksum_is_checked(tmp_path):
    path = tmp_path / "c.safetensors"
    save_bundle(path, tiny_models(0))
    with pytest.raises(CheckpointError, match="failed its checksum"):
        load_bundle(path, expected_sha256="0" * 64)
    path.with_name(path.name + ".sha256").write_text("f" * 64 + "  c.safetensors\n")
    with pytest.raises(CheckpointError, match="failed its checksum"):
        load_bundle(path)
    assert load_bundle(path, check_sidecar=False).unets
    with pytest.raises(CheckpointError, match="not found"):
        load_bundle(tmp_path / "missing.safetensors")


def recipe(data: Path, out: Path, *extra: str) -> dict:
    import argparse

    p = argparse.ArgumentParser()
    demo_recipe.add_arguments(p)
    args = p.parse_args(["--data", str(data), "--out", str(out), "--config", "tiny", "--device", "cpu",
                         "--batch-vqvae", "2", "--batch-levels", "4", "--batch-dd", "2",
                         "--vqvae-sample-length", "8192", "--dd-sample-length", "8192", "--num-workers", "0",
                         "--val-items", "4", "--cache-shifts", "2", *extra])
    return demo_recipe.run_recipe(args)


def test_demo_recipe_end_to_end_and_resume(tmp_path):
    data = tmp_path / "music"
    write_synth_folder(data, files=5, seconds=2.0)
    out = tmp_path / "run"
    summary = recipe(data, out, "--budget-vqvae", "20", "--budget-levels", "20", "--budget-dd", "20",
                     "--max-steps", "3", "--sample-seconds", "1", "--export-dir", str(tmp_path / "export"))
    assert [s for s in summary["stages"]] == ["vqvae", "level2", "level1", "level0", "dd"]
    assert all(row["steps"] == 3 for row in summary["stages"].values())
    assert all("val_loss" in summary["stages"][s] for s in ("level2", "level1", "level0", "dd"))
    assert set(summary["stages"]["vqvae"]["val_metrics"]) == {0, 1, 2}
    bundle = Path(summary["bundle"]["path"])
    models = load_bundle(bundle)
    assert sorted(models.unets) == [0, 1, 2] and models.dance is not None
    audio, sr = sf.read(Path(summary["sample"]["folder"]) / "final_audio.wav")
    assert sr == 44100 and audio.shape == (44100, 2) and np.isfinite(audio).all()
    exported = {p.name for p in (tmp_path / "export").iterdir()}
    assert exported == {"demo.safetensors", "demo.safetensors.sha256", "summary.json", "recipe.log", "losses.csv",
                        "sample.wav", "sample.png"}
    stages = {line.split(",")[0] for line in (tmp_path / "export" / "losses.csv").read_text().splitlines()[1:]}
    assert stages == {"vqvae", "level2", "level1", "level0", "dd"}
    # a second command: VQ-VAE and DD kept, levels continue exactly from their checkpoints
    again = recipe(data, out, "--resume", str(out), "--budget-vqvae", "0", "--budget-levels", "20",
                   "--budget-dd", "0", "--max-steps", "5", "--sample-seconds", "0")
    assert again["stages"]["level2"]["steps"] == 5 and again["stages"]["vqvae"]["steps"] == 0
    assert again["stages"]["dd"]["reused"].endswith("dd-step00000003.ckpt")
    # and a fresh folder can start from the bundle's weights
    warm = recipe(data, tmp_path / "warm", "--init-bundle", str(bundle), "--budget-vqvae", "0",
                  "--budget-levels", "20", "--budget-dd", "0", "--max-steps", "1", "--sample-seconds", "0")
    assert warm["stages"]["level0"]["steps"] == 1 and load_bundle(warm["bundle"]["path"]).dance is not None
    # a wider level 2 (a config that extends tiny) starts fresh; the other stages still come from the bundle
    wide_cfg = tmp_path / "tiny-wide.yaml"
    wide_cfg.write_text("extends: tiny\nmodel:\n  diffusion:\n    2: {channels: [16, 32, 32]}\n")
    with pytest.raises(CheckpointError, match="shape|size"):   # without --fresh the old weights do not fit
        recipe(data, tmp_path / "wide0", "--config", str(wide_cfg), "--init-bundle", str(bundle),
               "--budget-vqvae", "0", "--budget-levels", "0", "--budget-level2", "20", "--budget-dd", "0",
               "--max-steps", "1", "--sample-seconds", "0")
    wide = recipe(data, tmp_path / "wide", "--config", str(wide_cfg), "--init-bundle", str(bundle), "--fresh",
                  "level2", "--budget-vqvae", "0", "--budget-levels", "0", "--budget-level2", "20",
                  "--budget-dd", "0", "--max-steps", "1", "--sample-seconds", "0")
    assert wide["stages"]["level2"]["steps"] == 1 and wide["stages"]["level1"]["steps"] == 0
    wide_models, old_models = load_bundle(wide["bundle"]["path"]), load_bundle(bundle)
    assert wide_models.model_cfg.diffusion[2].channels == [16, 32, 32]
    assert sum(p.numel() for p in wide_models.unets[2].parameters()) > 1.5 * sum(
        p.numel() for p in old_models.unets[2].parameters())
    old_l1, new_l1 = old_models.unets[1].state_dict(), wide_models.unets[1].state_dict()
    assert old_l1.keys() == new_l1.keys() and all(torch.equal(new_l1[k], old_l1[k]) for k in old_l1)


def test_the_same_models_give_the_same_bundle_bytes(tmp_path):
    a = save_bundle(tmp_path / "a.safetensors", tiny_models(0), name="t")
    b = save_bundle(tmp_path / "b.safetensors", tiny_models(0), name="t")
    assert a == b  # safetensors alone writes its metadata in hash order: a new SHA-256 every time
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    loaded = load_bundle(tmp_path / "a.safetensors", expected_sha256=a)
    assert sorted(loaded.unets) == sorted(tiny_models(0).unets)


def test_export_from_bundle_reproduces_the_shipped_demo_bit_for_bit(tmp_path, capsys):
    from jbdiff.demo import DEMO_BUNDLE, DEMO_SHA256
    from training import export

    src = tmp_path / "src.safetensors"
    src.write_bytes(DEMO_BUNDLE.read_bytes())
    (tmp_path / "src.safetensors.sha256").write_text(f"{DEMO_SHA256}  src.safetensors\n")
    out = tmp_path / "again.safetensors"
    root = Path(__file__).resolve().parents[1]
    assert export.main(["--config", str(root / "configs" / "demo.yaml"), "--from-bundle", str(src),
                        "--out", str(out)]) == 0
    assert out.read_bytes() == DEMO_BUNDLE.read_bytes()  # configs/demo.yaml is what ships, exactly
    assert DEMO_SHA256 in capsys.readouterr().out


def test_export_from_bundle_swaps_the_sampling_and_keeps_every_tensor(tmp_path, capsys):
    from jbdiff.config import to_dict
    from training import export

    src = tmp_path / "t.safetensors"
    save_bundle(src, tiny_models(0), name="t")
    cfg = tmp_path / "cfg.yaml"
    model = to_dict(tiny_models(0).model_cfg)
    sampling = to_dict(tiny_models(0).sampling_cfg)
    sampling["diffusion"][2]["num_steps"] = 77
    cfg.write_text(yaml.safe_dump({"model": model, "sampling": sampling}))
    out = tmp_path / "u.safetensors"
    assert export.main(["--config", str(cfg), "--from-bundle", str(src), "--out", str(out), "--name", "t"]) == 0
    a, b = load_bundle(src), load_bundle(out)
    assert b.sampling_cfg.level(2).num_steps == 77 and a.sampling_cfg.level(2).num_steps != 77
    for net_a, net_b in [(a.vqvae, b.vqvae), (a.dance, b.dance), *zip(a.unets.values(), b.unets.values(), strict=True)]:
        for (ka, va), (kb, vb) in zip(net_a.state_dict().items(), net_b.state_dict().items(), strict=True):
            assert ka == kb and torch.equal(va, vb), ka
    # weights come from one place only, and the source is never overwritten in place
    assert export.main(["--config", str(cfg), "--from-bundle", str(src), "--out", str(out),
                        "--level2", str(src)]) == 2
    assert export.main(["--config", str(cfg), "--from-bundle", str(src), "--out", str(src)]) == 2
    err = capsys.readouterr().err
    assert "drop --vqvae" in err and "is the --from-bundle file" in err
