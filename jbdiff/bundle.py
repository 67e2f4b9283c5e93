"""A whole model in one safetensors file: every network's weights plus the configs that build them.

Layout: tensors ``vqvae.*``, ``level2.*``, ``level1.*``, ``level0.*`` and ``dd.*`` (each the
module's own state_dict names); metadata ``jbdiff_bundle`` (format), ``name``, ``model_config``
and ``sampling_config`` (JSON), ``dtype``, ``params_<network>`` (parameter counts); the header's
keys are sorted, so the same weights and configs give the same bytes. Weights are stored in fp16 by default, except the
VQ-VAE codebooks, which stay fp32 because the latent normalisation is computed from them. A
``<file>.sha256`` sidecar holds the file's SHA-256, which ``load_bundle`` can check.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jbdiff.atomic import process_umask
from jbdiff.config import SamplingConfig, parse_model, parse_sampling, to_dict
from jbdiff.errors import CheckpointError
from jbdiff.models import LoadedModels, build_dance, build_unet, build_vqvae
from jbdiff.store.verify import sha256_file

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "1"
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def _keep_fp32(key: str) -> bool:
    """Codebooks (vqvae.bottleneck.level_blocks.<i>.k) set the latent statistics: keep them exact."""
    return key.startswith("vqvae.bottleneck.") and key.endswith(".k")


def bundle_tensors(models: LoadedModels, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """Flat name -> tensor map of every network (floating tensors cast to `dtype`, each its own copy)."""
    sections: dict[str, nn.Module] = {"vqvae": models.vqvae}
    sections.update({f"level{lvl}": net for lvl, net in sorted(models.unets.items(), reverse=True)})
    if models.dance is not None:
        sections["dd"] = models.dance
    out: dict[str, torch.Tensor] = {}
    for name, module in sections.items():
        for k, v in module.state_dict().items():
            key = f"{name}.{k}"
            v = v.detach().cpu()
            if v.is_floating_point():
                v = v.to(torch.float32 if _keep_fp32(key) else dtype)
            out[key] = v.clone().contiguous()
    return out


def _sampling_without_paths(cfg: SamplingConfig) -> dict[str, Any]:
    data = to_dict(cfg)
    data["vqvae_ckpt_loc"] = None
    for section in data.get("diffusion", {}).values():
        if isinstance(section, dict):
            section["ckpt_loc"] = None
    data["diffusion"] = {str(k): v for k, v in data.get("diffusion", {}).items()}
    return data


def canonical_header(path: Path) -> None:
    """Rewrite a safetensors header with sorted keys: the same weights and configs give the same bytes.

    safetensors serialises the metadata in hash order, which changes from run to run, so without
    this every export of identical weights would have a new SHA-256.
    """
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        data = f.read()
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # keep the tensor data 8-byte aligned, as safetensors does
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + data)


def model_sizes(models: LoadedModels) -> dict[str, int]:
    """Parameter counts per network (stored in the bundle's metadata as ``params_<network>``)."""
    nets = {"vqvae": models.vqvae, **{f"level{k}": v for k, v in models.unets.items()}}
    if models.dance is not None:
        nets["dd"] = models.dance
    return {k: sum(p.numel() for p in net.parameters()) for k, net in nets.items()}


def save_bundle(path: str | os.PathLike[str], models: LoadedModels, *, dtype: str = "float16",
                name: str | None = None) -> str:
    """Write the bundle (atomically) and its ``.sha256`` sidecar; returns the file's SHA-256."""
    from safetensors.torch import save_file

    if dtype not in DTYPES:
        raise CheckpointError(f"bundle dtype {dtype!r} is not allowed (allowed: {', '.join(DTYPES)})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sampling = _sampling_without_paths(models.sampling_cfg)
    model = to_dict(models.model_cfg)
    model["diffusion"] = {str(k): v for k, v in model["diffusion"].items()}
    meta = {
        "jbdiff_bundle": BUNDLE_FORMAT,
        "name": name or models.name,
        "dtype": dtype,
        "levels": ",".join(str(lvl) for lvl in sorted(models.unets, reverse=True)),
        "dd": "1" if models.dance is not None else "0",
        "model_config": json.dumps(model, sort_keys=True),
        "sampling_config": json.dumps(sampling, sort_keys=True),
        **{f"params_{k}": str(v) for k, v in model_sizes(models).items()},
    }
    tmp = path.with_name(f".{path.name}.part")
    try:
        save_file(bundle_tensors(models, DTYPES[dtype]), str(tmp), metadata=meta)
        canonical_header(tmp)
        os.chmod(tmp, 0o666 & ~process_umask())  # safetensors writes 0600; a bundle is for other users and tools too
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    digest = sha256_file(path)
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    log.info("wrote bundle %s (%.1f MB, sha256 %s)", path, path.stat().st_size / 1e6, digest)
    return digest


def read_bundle_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The bundle's metadata (reads only the header)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model bundle not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for a bad file
        raise CheckpointError(f"{path}: not a safetensors model bundle ({exc})") from exc
    if meta.get("jbdiff_bundle") != BUNDLE_FORMAT:
        raise CheckpointError(f"{path}: not a jbdiff model bundle (metadata jbdiff_bundle={meta.get('jbdiff_bundle')!r})")
    return dict(meta)


def _section(tensors: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    prefix = name + "."
    return {k[len(prefix):]: v.float() if v.is_floating_point() else v
            for k, v in tensors.items() if k.startswith(prefix)}


def load_bundle(path: str | os.PathLike[str], *, expected_sha256: str | None = None, check_sidecar: bool = True,
                sampling_cfg: SamplingConfig | None = None, name: str | None = None) -> LoadedModels:
    """Build every network the bundle holds (fp32 on the CPU) and load its weights.

    The file's SHA-256 is checked against `expected_sha256` if given, else against the
    ``.sha256`` sidecar when one exists (and `check_sidecar`); a mismatch raises CheckpointError.
    """
    from safetensors.torch import load_file

    from jbdiff.dance.checkpoint import load_dance_weights
    from jbdiff.level_checkpoint import load_level_unet
    from jbdiff.vqvae.checkpoint import load_vqvae_weights

    path = Path(path)
    meta = read_bundle_metadata(path)
    digest = sha256_file(path)
    sidecar = path.with_name(path.name + ".sha256")
    expected = expected_sha256
    if expected is None and check_sidecar and sidecar.is_file():
        expected = sidecar.read_text().split()[0]
    if expected is not None and expected.lower() != digest:
        raise CheckpointError(f"{path} failed its checksum: expected sha256 {expected}, got {digest}")
    model_cfg = parse_model(json.loads(meta["model_config"]), "bundle model_config")
    sampling = sampling_cfg or parse_sampling(json.loads(meta["sampling_config"]), "bundle sampling_config")
    tensors = load_file(str(path))
    vqvae = build_vqvae(model_cfg.vqvae)
    load_vqvae_weights(vqvae, _section(tensors, "vqvae"))
    unets: dict[int, nn.Module] = {}
    for lvl in (int(x) for x in meta.get("levels", "").split(",") if x):
        unet = build_unet(model_cfg.diffusion[lvl], model_cfg.embedding_max_length(lvl))
        load_level_unet(unet, _section(tensors, f"level{lvl}"))
        unets[lvl] = unet
    dance = None
    if meta.get("dd") == "1":
        dance = build_dance(model_cfg.dd)
        load_dance_weights(dance, _section(tensors, "dd"))
    if not unets:
        raise CheckpointError(f"{path}: the bundle holds no level U-Net")
    return LoadedModels(vqvae, unets, dance, model_cfg, sampling, name=name or meta.get("name", "bundle"),
                        hashes={"bundle": digest})
