"""``/jbdiff/generate``, ``cancel``, ``jobs``, ``job/get``, and the job events the server sends on its own."""

from __future__ import annotations

from typing import Any

from server.journal import JobState
from server.osc.routes import Arg, Call, Message, Reply, Route
from server.params import parse_pairs
from server.queue import EventKind, JobEvent

ALL = "all"


def generate(call: Call, *pairs: Any) -> list[Reply]:
    call.server.submit(parse_pairs(pairs), source="osc", sender=call.sender)
    return []       # the answer, /jbdiff/job/accepted, is the ACCEPTED event (same path for every source)


def cancel(call: Call, job_id: str) -> list[Reply]:
    queue = call.server.queue
    if job_id == ALL:
        return [Reply("/jbdiff/cancel", [ALL, queue.cancel_all()])]
    state = queue.cancel(job_id)
    return [Reply("/jbdiff/cancel", [job_id, "cancelled" if state == JobState.CANCELLED else "cancelling"])]


def jobs(call: Call) -> list[Reply]:
    flat: list[Any] = []
    for job in call.server.job_summary():
        flat += [job.id, job.state.value]
    return [Reply("/jbdiff/jobs", flat)]


def job_get(call: Call, job_id: str) -> list[Reply]:
    job = call.server.get_job(job_id)
    return [Reply("/jbdiff/job/get", [job.id, job.state.value, job.name, job.result_path or "",
                                      float(job.seconds or 0.0), job.error or ""])]


ROUTES: tuple[Route, ...] = (
    Route("/jbdiff/generate", generate,
          "Queue a generation. Keys not given take the live parameter values (see Parameters); `tag` is "
          "echoed in the accepted reply so a client can match it to its request.",
          rest=Arg("key value", "any", "pairs such as `seconds 8` or `bars 4 bpm 120`"),
          replies=("/jbdiff/job/accepted <job_id> <tag>", "then the job events below")),
    Route("/jbdiff/cancel", cancel,
          "Cancel a queued job at once, or stop a running one within one diffusion step; `all` cancels "
          "every queued and running job.",
          args=(Arg("job_id", "string", "a job id, or `all`"),),
          replies=("/jbdiff/cancel <job_id> cancelled|cancelling", "/jbdiff/cancel all <count>")),
    Route("/jbdiff/jobs", jobs, "Queued and running jobs (oldest first), then the most recent finished ones.",
          replies=("/jbdiff/jobs <job_id> <state> ...",)),
    Route("/jbdiff/job/get", job_get, "One job's state, name, result and error.",
          args=(Arg("job_id", "string", "a job id"),),
          replies=("/jbdiff/job/get <job_id> <state> <name> <wav_path or ''> <seconds> <error or ''>",)),
)

_JOB_ID = Arg("job_id", "string", "the job")

EVENTS: dict[EventKind, Message] = {
    EventKind.ACCEPTED: Message("/jbdiff/job/accepted", (_JOB_ID, Arg("tag", "string", "the request's tag, or ''")),
                                "The job is journaled and queued (the answer to /jbdiff/generate)."),
    EventKind.STARTED: Message("/jbdiff/job/started", (_JOB_ID,), "A worker took the job."),
    EventKind.PROGRESS: Message(
        "/jbdiff/job/progress",
        (_JOB_ID, Arg("stage", "string", "level2, level1, level0, dd, or compiling (a compiled server's first render of a shape)"),
         Arg("fraction", "float", "overall progress 0 .. 1, never decreasing")),
        "While rendering, at most `progress_hz` (default 4) per second per job."),
    EventKind.DONE: Message(
        "/jbdiff/job/done",
        (_JOB_ID, Arg("wav_path", "string", "absolute path of the stereo WAV"),
         Arg("seconds", "float", "length of the audio")),
        "The WAV and its JSON sidecar are completely written (sent once per job)."),
    EventKind.FAILED: Message("/jbdiff/job/failed", (_JOB_ID, Arg("reason", "string", "what went wrong")),
                              "The job failed (bad input file, out of memory, ...); the server keeps serving."),
    EventKind.CANCELLED: Message("/jbdiff/job/cancelled", (_JOB_ID,), "The job was cancelled; nothing was written."),
    EventKind.INTERRUPTED: Message("/jbdiff/job/interrupted", (_JOB_ID,),
                                   "The server stopped during the job; it runs again at the next start."),
    EventKind.REQUEUED: Message("/jbdiff/job/requeued", (_JOB_ID,),
                                "The job is queued again: after a restart or a worker's death (it was interrupted), "
                                "or because the worker that took it cannot load its model and another may."),
}


def event_message(event: JobEvent) -> tuple[str, list[Any]]:
    """The OSC message for a job event."""
    job = event.job
    address = EVENTS[event.kind].address
    if event.kind == EventKind.ACCEPTED:
        return address, [job.id, job.tag or ""]
    if event.kind == EventKind.PROGRESS:
        return address, [job.id, str(event.data["stage"]), float(event.data["fraction"])]
    if event.kind == EventKind.DONE:
        return address, [job.id, job.result_path or "", float(job.seconds or 0.0)]
    if event.kind == EventKind.FAILED:
        return address, [job.id, job.error or "failed"]
    return address, [job.id]
