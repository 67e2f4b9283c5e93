"""Results on disk: ``<job_id>_<name>.wav`` plus a JSON sidecar, each written atomically, WAV first.

The sidecar is the commit mark: a job counts as finished on disk only when its sidecar exists,
names the job and its WAV is readable, so recovery after a crash never trusts a half file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import soundfile as sf

from jbdiff import __version__
from jbdiff.atomic import write_json_atomic
from jbdiff.audio import save_wav
from server.journal import JobRecord

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def output_stem(job_id: str, name: str) -> str:
    """File name stem: job id first (sorts by job, unique), then the name made filesystem-safe."""
    safe = _UNSAFE.sub("_", name).strip("._") or "jbdiff"
    return f"{job_id}_{safe[:80]}"


def paths_for(output_dir: Path, job: JobRecord) -> tuple[Path, Path]:
    stem = output_stem(job.id, job.name)
    return output_dir / f"{stem}.wav", output_dir / f"{stem}.json"


def _plain(obj: Any) -> Any:
    """JSON-ready: dict keys as strings (configs key levels by int and "dd" in one dict)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def write_sidecar_json(path: Path, data: Any) -> Path:
    """The sidecar, atomically, with stable key order (diffs between jobs stay readable)."""
    return write_json_atomic(path, _plain(data), sort_keys=True, default=str)


def write_result(output_dir: Path, job: JobRecord, result: Any, timings: dict[str, float]) -> tuple[Path, float]:
    """Write the WAV, then the sidecar; returns (absolute WAV path, seconds of audio)."""
    wav, sidecar = paths_for(output_dir, job)
    save_wav(wav, result.audio, result.sample_rate)
    seconds = result.audio.shape[-1] / float(result.sample_rate)
    request = result.request.to_dict() if hasattr(result.request, "to_dict") else dict(result.request)
    write_sidecar_json(sidecar, {
        "job_id": job.id,
        "name": job.name,
        "wav": str(wav.resolve()),
        "seconds": seconds,
        "sample_rate": result.sample_rate,
        "channels": int(result.audio.shape[0]),
        "request": request,
        "seeds": {"noise_seed": request.get("noise_seed"), "dd_noise_seed": request.get("dd_noise_seed")},
        "timings": {**{k: float(v) for k, v in dict(result.timings).items()}, **timings},
        "job": {"source": job.source, "attempts": job.attempts, "worker": job.worker,
                "created_at": job.created_at, "started_at": job.started_at, "tag": job.tag},
        "metadata": dict(getattr(result, "metadata", {}) or {}),
        "server_version": __version__,
    })
    return wav.resolve(), seconds


def finished_output(output_dir: Path, job: JobRecord) -> tuple[str, float] | None:
    """(WAV path, seconds) if this job's complete result is already on disk, else None."""
    wav, sidecar = paths_for(output_dir, job)
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        if meta.get("job_id") != job.id:
            return None
        info = sf.info(str(wav))
    except (OSError, ValueError, RuntimeError, sf.LibsndfileError):
        return None
    return str(wav.resolve()), info.frames / float(info.samplerate)
