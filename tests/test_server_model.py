"""Choosing the model over OSC: /jbdiff/model/*, the model each job records, workers that swap engines.

Real UDP on loopback, real journal files, the real tiny pipeline and a tiny bundle where the
model matters; stand-in engines (named after the model they were loaded for) elsewhere.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from jbdiff.bundle import save_bundle
from jbdiff.errors import CheckpointError
from jbdiff.model_registry import MODELS
from jbdiff.models import tiny_models
from jbdiff.request import GenerationRequest
from server.journal import JobState, Journal
from tests.server_helpers import StandInEngine, serving, status, wait_for

pytestmark = pytest.mark.timeout(120)


@dataclass
class NamedEngine(StandInEngine):
    """A stand-in that writes the model it was loaded for into the result's metadata (so the sidecar)."""

    model: str = ""

    def generate(self, request, *, progress=None, cancel=None):
        result = super().generate(request, progress=progress, cancel=cancel)
        result.metadata["model"] = self.model
        return result


class Loader:
    """``loader(device, model)`` for the server: records each load; ``missing`` models have no weights."""

    def __init__(self, missing: tuple[str, ...] = (), steps: int = 2) -> None:
        self.loads: list[str] = []
        self.missing = missing
        self.steps = steps

    def __call__(self, device: str, model: str) -> NamedEngine:
        self.loads.append(model)
        if model in self.missing:
            raise CheckpointError(f"no weights for {model} in /nowhere")
        return NamedEngine(steps_per_level=self.steps, step_seconds=0.002, model=model)


@pytest.fixture
def serve(tmp_path):
    yield from serving(tmp_path)


def sidecar(wav: str) -> dict:
    return json.loads(Path(wav).with_suffix(".json").read_text())


def render(client, *pairs) -> tuple[str, str]:
    """Generate and wait for it: (job id, WAV path)."""
    client.send("/jbdiff/generate", "seconds", 0.5, "steps", 2, *pairs)
    job_id = client.expect("/jbdiff/job/accepted")[0]
    done = client.expect("/jbdiff/job/done", 60, where=lambda p: p[0] == job_id)
    return job_id, done[1]


def tiny_bundle(folder: Path, name: str) -> Path:
    path = folder / f"{name}.safetensors"
    save_bundle(path, tiny_models(1), dtype="float32", name=name)
    return path


# ---------------------------------------------------------------------------- the routes


def test_set_get_and_list_the_model(serve):
    loader = Loader()
    srv, client = serve(loader=loader)                       # configured: tiny
    assert client.request("/jbdiff/model/get") == ["tiny", "tiny"]
    assert client.request("/jbdiff/model/set", "demo") == ["demo"]
    assert client.request("/jbdiff/model/get") == ["demo", "tiny"]
    kv = status(client)
    assert kv["model_name"] == "demo" and kv["worker.0.model"] == "tiny"     # swapped at the next job, not now
    assert loader.loads == ["tiny"]
    assert json.loads(srv.cfg.model_selection_path.read_text()) == {"model": "demo", "configured": "tiny"}

    (srv.cfg.models_dir / "mine.safetensors").write_bytes(b"not read until a job loads it")
    (srv.cfg.models_dir / "notes.txt").write_text("not a model")
    assert client.request("/jbdiff/model/list") == [*MODELS, "mine.safetensors"]
    stored = client.request("/jbdiff/model/set", "mine.safetensors")            # a file name: in models/
    assert stored == [str(srv.cfg.models_dir / "mine.safetensors")]
    assert client.request("/jbdiff/model/get") == [stored[0], "tiny"]
    assert client.request("/jbdiff/model/set", "default") == ["tiny"]
    assert client.request("/jbdiff/model/get") == ["tiny", "tiny"]


def test_bad_model_names_get_an_error_reply_and_change_nothing(serve, tmp_path):
    srv, client = serve(loader=Loader())
    assert client.request("/jbdiff/model/set", "demo") == ["demo"]
    saved = srv.cfg.model_selection_path.read_text()
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(b"x")
    (srv.cfg.models_dir / "folder.safetensors").mkdir()
    bad = [
        ("nope", "BadRequest", "'nope' is not a known model"),
        ("jbdiff-v2", "BadRequest", "'jbdiff-v2' is not a known model"),
        ("", "BadRequest", "'' is not a model name"),
        (7, "BadRequest", "expected string"),
        ("gone.safetensors", "BadPath", "'gone.safetensors' does not exist"),
        (str(outside), "BadPath", "outside the allowed folders"),
        ("../x.yaml", "BadPath", "contains '..'"),
        ("folder.safetensors", "BadPath", "is a folder (expected a model file)"),
    ]
    for value, code, says in bad:
        err = client.request("/jbdiff/model/set", value, reply="/jbdiff/error")
        assert err[0] == "/jbdiff/model/set" and err[2] == code, (value, err)
        assert says in err[1], (value, err[1])
        if value != 7:                                            # 7: the argument check's own message
            assert "allowed: demo, tiny, jbdiff-v1, random-v1, default" in err[1], err[1]
    err = client.request("/jbdiff/model/set", "tiny", "demo", reply="/jbdiff/error")
    assert err[2] == "BadRequest" and "/jbdiff/model/set <name>" in err[1]
    assert client.request("/jbdiff/model/get") == ["demo", "tiny"]
    assert srv.cfg.model_selection_path.read_text() == saved
    assert client.request("/jbdiff/ping", reply="/jbdiff/pong")


# ---------------------------------------------------------------------------- jobs and their model


def test_a_job_after_switching_from_tiny_to_a_bundle_records_and_renders_with_it(serve):
    srv, client = serve()                                     # the real loader: tiny, then the bundle
    bundle = tiny_bundle(srv.cfg.models_dir, "mini")
    before, wav_before = render(client, "name", "before")
    assert client.request("/jbdiff/model/set", bundle.name) == [str(bundle)]
    after, wav_after = render(client, "name", "after")
    assert sidecar(wav_before)["metadata"]["model"] == "tiny"
    assert sidecar(wav_after)["metadata"]["model"] == "mini"
    assert srv.journal.get(before).model == "tiny" and srv.journal.get(after).model == str(bundle)
    kv = status(client)
    assert kv["model_name"] == str(bundle) and kv["worker.0.model"] == str(bundle) and kv["model"] == "ready"
    # The drop folder and MIDI submit through the same door: they take the selection too.
    for source in ("hotfolder", "midi"):
        job = srv.submit({"seconds": 0.5, "steps": 2}, source=source)
        assert (job.source, job.model) == (source, str(bundle))


def test_jobs_queued_before_a_switch_keep_their_model(serve):
    loader = Loader(steps=30)
    srv, client = serve(loader=loader)
    ids = []
    for model in ("demo", "tiny", "demo"):
        assert client.request("/jbdiff/model/set", model) == [model]
        client.send("/jbdiff/generate", "seconds", 0.1)
        ids.append(client.expect("/jbdiff/job/accepted")[0])
    done = {client.expect("/jbdiff/job/done", 30)[0]: None for _ in ids}
    assert set(done) == set(ids)
    models = [sidecar(srv.journal.get(i).result_path)["metadata"]["model"] for i in ids]
    assert models == ["demo", "tiny", "demo"] == [srv.journal.get(i).model for i in ids]
    assert loader.loads == ["tiny", "demo", "tiny", "demo"]            # one engine at a time, swapped per job


def test_a_model_that_cannot_load_fails_its_job_and_the_queue_goes_on(serve):
    srv, client = serve(loader=Loader(missing=("jbdiff-v1",)))
    client.request("/jbdiff/model/set", "jbdiff-v1")
    client.send("/jbdiff/generate", "seconds", 0.1)
    doomed = client.expect("/jbdiff/job/accepted")[0]
    client.request("/jbdiff/model/set", "tiny")
    client.send("/jbdiff/generate", "seconds", 0.1)
    fine = client.expect("/jbdiff/job/accepted")[0]
    failed = client.expect("/jbdiff/job/failed", 30)
    assert failed[0] == doomed and "cannot load model jbdiff-v1" in failed[1] and "no weights" in failed[1]
    assert "jbdiff download" in failed[1]
    assert client.expect("/jbdiff/job/done", 30)[0] == fine
    kv = status(client)
    assert kv["model"] == "ready" and kv["worker.0.model"] == "tiny"

    # Once every worker failed the selected model, generate is refused at once ...
    client.request("/jbdiff/model/set", "jbdiff-v1")
    client.send("/jbdiff/generate", "seconds", 0.1)
    retry = client.expect("/jbdiff/job/accepted")[0]              # not known to fail yet: accepted, then fails
    assert client.expect("/jbdiff/job/failed", 30)[0] == retry
    assert status(client)["model"] == "missing" and status(client)["worker.0.model"] == ""
    err = client.request("/jbdiff/generate", "seconds", 0.1, reply="/jbdiff/error")
    assert err[2] == "ModelNotLoaded" and "jbdiff-v1" in err[1]
    # ... until a model is selected again (the same one, after a download, is tried once more).
    client.request("/jbdiff/model/set", "tiny")
    _, wav = render(client)
    assert sidecar(wav)["metadata"]["model"] == "tiny"
    assert srv.journal.get(doomed).state == JobState.FAILED and srv.journal.get(fine).state == JobState.DONE


# ---------------------------------------------------------------------------- across restarts


def test_the_selection_survives_a_restart_until_the_configured_model_changes(serve):
    loader = Loader()
    srv, client = serve(loader=loader)
    client.request("/jbdiff/model/set", "demo")
    srv.stop()
    srv, client = serve(loader=loader)
    assert client.request("/jbdiff/model/get") == ["demo", "tiny"]
    assert loader.loads[-1] == "demo"                         # a worker starts with the selection loaded
    srv.stop()
    srv, client = serve(loader=loader, model="random-v1")     # the configured model changed: it wins
    assert client.request("/jbdiff/model/get") == ["random-v1", "random-v1"]
    assert not srv.cfg.model_selection_path.exists()
    srv.stop()
    srv, client = serve(loader=loader)                        # and the dropped selection does not come back
    assert client.request("/jbdiff/model/get") == ["tiny", "tiny"]
    bundle = srv.cfg.models_dir / "gone.safetensors"
    bundle.write_bytes(b"x")
    client.request("/jbdiff/model/set", bundle.name)
    srv.stop()
    bundle.unlink()
    srv, client = serve(loader=loader)                        # a saved file that is gone: the configured model
    assert client.request("/jbdiff/model/get") == ["tiny", "tiny"]
    srv.stop()
    srv.cfg.model_selection_path.write_text("{not json")
    srv, client = serve(loader=loader)
    assert client.request("/jbdiff/model/get") == ["tiny", "tiny"]


def test_a_requeued_job_renders_with_the_model_it_was_submitted_under(serve):
    loader = Loader(steps=400)
    srv, client = serve(loader=loader)
    client.request("/jbdiff/model/set", "demo")
    client.send("/jbdiff/generate", "seconds", 0.1)
    job_id = client.expect("/jbdiff/job/accepted")[0]
    client.expect("/jbdiff/job/progress", 10)
    srv.stop(on_shutdown="cancel")                            # interrupted: it runs again at the next start
    journal = Journal(srv.cfg.journal_path)
    assert (journal.get(job_id).state, journal.get(job_id).model) == (JobState.INTERRUPTED, "demo")
    journal.close()
    srv.cfg.model_selection_path.unlink()                     # the next server starts with tiny selected
    loader.steps = 2
    srv, client = serve(loader=loader)
    assert client.request("/jbdiff/model/get") == ["tiny", "tiny"]
    job = wait_for(lambda: (j := srv.journal.get(job_id)).state == JobState.DONE and j, 30, "the re-queued job")
    assert job.model == "demo" and job.attempts == 2
    assert sidecar(job.result_path)["metadata"]["model"] == "demo"


OLD_SCHEMA = """
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,
    request TEXT NOT NULL, source TEXT NOT NULL, reply_host TEXT, reply_port INTEGER, tag TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, worker TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL, result_path TEXT, seconds REAL, error TEXT
);
CREATE INDEX jobs_by_state ON jobs (state, seq);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('schema', '1');
"""


def test_a_journal_from_before_jobs_named_their_model_loads_and_runs_with_the_configured_model(serve, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(data / "jobs.sqlite")
    db.executescript(OLD_SCHEMA)
    request = GenerationRequest(seconds_length=0.1, project_name="old").validate().with_seeds().to_dict()
    db.execute("INSERT INTO jobs (id, name, state, request, source, created_at) VALUES (?, ?, ?, ?, ?, ?)",
               ("j00000001", "old", "queued", json.dumps(request), "osc", time.time()))
    db.commit()
    db.close()
    (data / "model.json").write_text(json.dumps({"model": "demo", "configured": "tiny"}))   # selected: demo
    loader = Loader()
    srv, client = serve(loader=loader)
    job = wait_for(lambda: (j := srv.journal.get("j00000001")).state == JobState.DONE and j, 30, "the old job")
    assert job.model is None                                  # as journaled: no model ...
    assert sidecar(job.result_path)["metadata"]["model"] == "tiny"          # ... means the configured one
    assert loader.loads == ["demo", "tiny"]
    assert client.request("/jbdiff/model/get") == ["demo", "tiny"]
    new = srv.submit({"seconds": 0.1})
    assert srv.journal.get(new.id).model == "demo"            # the migrated journal takes the column


# ---------------------------------------------------------------------------- worker processes


def test_a_worker_process_swaps_the_real_tiny_pipeline_for_a_bundle(serve):
    srv, client = serve(worker_mode="process")                # the child loads models itself
    child = srv.workers[0].pid
    bundle = tiny_bundle(srv.cfg.models_dir, "mini")
    _, first = render(client)
    client.request("/jbdiff/model/set", bundle.name)
    job_id, second = render(client)
    assert sidecar(first)["metadata"]["model"] == "tiny" and sidecar(second)["metadata"]["model"] == "mini"
    assert srv.journal.get(job_id).model == str(bundle)
    kv = status(client)
    assert kv["worker.0.model"] == str(bundle) and kv["model"] == "ready"
    assert kv["worker.0.pid"] == child and kv["worker.0.restarts"] == 0     # swapped inside the same process
