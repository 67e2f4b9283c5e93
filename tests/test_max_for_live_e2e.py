"""The device's JavaScript under Node against a real `jbdiff serve --tiny` over loopback UDP.

max_for_live/tests/e2e_client.js runs the same Session, message builders and reply parsers the
device runs in Live, with a Node UDP socket in place of [udpsend]/[udpreceive]: the model menu
(list, a refused name, a file from the models folder, back to tiny, get), a refused context
path, then generate -> progress -> done -> the WAV on disk, then a cancelled job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.server_helpers import free_port
from tests.test_max_for_live import node

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
MODEL_FILE = "my model.safetensors"


def write_wav(path: Path, seconds: float = 1.0) -> None:
    t = np.arange(int(44100 * seconds), dtype=np.float32) / 44100
    tone = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    sf.write(path, np.stack([tone, tone], axis=1), 44100)


@pytest.fixture
def server(tmp_path):
    """`jbdiff serve --tiny` on free loopback ports with a temporary data folder."""
    data = tmp_path / "data"
    (data / "drop").mkdir(parents=True)
    (data / "models").mkdir()
    (data / "models" / MODEL_FILE).write_bytes(b"")   # listed and selectable; never loaded (tiny renders)
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "jbdiff.cli", "serve", "--tiny", "--device", "cpu", "--host", "127.0.0.1",
           "--port", str(port), "--reply-port", str(free_port()), "--data-dir", str(data)]
    with open(log, "ab") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        yield port, data, log, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_device_javascript_generates_against_jbdiff_serve_tiny(server, tmp_path):
    port, data, log, proc = server
    context = data / "drop" / "context.wav"
    outside = tmp_path / "outside.wav"
    write_wav(context)
    write_wav(outside)
    run = subprocess.run([node(), "max_for_live/tests/e2e_client.js", "--port", str(port), "--context", str(context),
                          "--outside", str(outside), "--modelfile", MODEL_FILE, "--timeout", "80"],
                         cwd=ROOT, capture_output=True, text=True, timeout=100)
    summary = json.loads(run.stdout or "{}")
    assert run.returncode == 0 and "failure" not in summary, \
        f"{summary}\n{run.stderr}\nserver (exit {proc.poll()}):\n{log.read_text()[-4000:]}"

    # connected through /jbdiff/hello + /jbdiff/ping, with the server's state on the status line
    assert summary["connection"].startswith("jbdiff 0.1.0 at 127.0.0.1:")
    assert "model ready (tiny)" in summary["serverStatus"]

    # the model menu: the server's list, the configured tiny shown as selected
    menu = summary["modelMenu"]
    assert menu["items"] == ["demo", "tiny", "jbdiff-v1", "random-v1", MODEL_FILE]
    assert menu["items"][menu["index"]] == "tiny"
    # an unknown name: the server's BadRequest, shown with the model hint
    assert summary["modelRefused"].startswith("Error (BadRequest) Model: model: 'no-such-model'")
    assert summary["modelRefused"].endswith(" - unknown model or file")
    # a file picked by name comes back as an absolute path; the menu still shows it by name
    picked = summary["modelFile"]
    assert picked["status"] == f"Model for the next jobs: {MODEL_FILE}"
    assert Path(picked["selected"]).is_absolute()
    assert Path(picked["selected"]) == (data / "models" / MODEL_FILE).resolve()
    assert picked["shown"] == MODEL_FILE
    # back to tiny, and the server agrees when asked
    assert summary["modelTiny"] == "Model for the next jobs: tiny"
    assert summary["modelGet"] == {"model": "tiny", "configured": "tiny", "shown": "tiny"}
    assert json.loads((data / "model.json").read_text())["model"] == "tiny"

    # a context outside the drop folder: the server's BadPath, shown with what to do
    assert summary["refused"].startswith("Error (BadPath) Generate: context:")
    assert "drop folder" in summary["refused"]

    # generate -> progress -> done -> the file exists
    done = summary["done"]
    item = done["item"]
    wav = Path(item["localPath"])
    assert wav.is_file() and wav.parent == data / "output" and wav.name == f"{item['jobId']}_e2e_take.wav"
    audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    assert sr == 44100 and audio.shape == (44100, 2) and np.isfinite(audio).all()
    assert item["seconds"] == pytest.approx(1.0, abs=1e-3)
    progress = done["progress"]
    assert progress[0] == 0 and progress[-1] == 1 and progress == sorted(progress)
    assert any(0 < f < 1 for f in progress), f"no progress from the server: {progress}"
    statuses = done["statuses"]
    order = [next(i for i, s in enumerate(statuses) if s.startswith(p)) for p in ("Sent", "Queued as", "Rendering",
                                                                                    "Done")]
    assert order == sorted(order), statuses

    # what the device asked for is what the server rendered
    sidecar = json.loads(wav.with_suffix(".json").read_text())
    assert sidecar["job_id"] == item["jobId"]
    assert sidecar["seeds"] == {"noise_seed": 4242, "dd_noise_seed": 77}
    assert Path(sidecar["request"]["context_audio"]).resolve() == context.resolve()
    assert sidecar["request"]["num_steps"] == {"2": 8, "1": 8, "0": 8, "dd": 8}

    # the long job was cancelled: nothing written for it
    assert summary["cancelled"].startswith("Cancelled j")
    cancelled_id = summary["cancelled"].split()[1]
    assert not list((data / "output").glob(f"{cancelled_id}*"))
    assert summary["recents"] == [item["jobId"]]
