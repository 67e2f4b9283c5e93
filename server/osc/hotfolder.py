"""``/jbdiff/hotfolder/*``: where to drop clips, what the watcher is doing, and the drops so far."""

from __future__ import annotations

from typing import Any

from server.errors import BadRequest
from server.frontends import find_service
from server.hotfolder import DROP_ADDRESS, HotFolder
from server.osc.routes import Arg, Call, Message, Reply, Route


def _folder(call: Call) -> HotFolder:
    folder = find_service(call.server, HotFolder)
    if folder is None:
        raise BadRequest("the hot folder is off (hotfolder.enabled in configs/server.yaml)")
    return folder


def status(call: Call) -> list[Reply]:
    flat: list[Any] = []
    for key, value in _folder(call).status_items():
        flat += [key, value]
    return [Reply("/jbdiff/hotfolder/status", flat)]


def drops(call: Call) -> list[Reply]:
    flat: list[Any] = []
    for drop in _folder(call).log.recent(call.server.cfg.recent_jobs):
        flat += [drop.kind, drop.path, drop.state, drop.job_id or "", drop.error or ""]
    return [Reply("/jbdiff/hotfolder/drops", flat)]


ROUTES: tuple[Route, ...] = (
    Route("/jbdiff/hotfolder/status", status,
          "The drop folders and the watcher: context_dir, init_dir (drag clips here), watching (0/1), observer, "
          "auto_generate (0/1), pending (files still arriving). A clip completely written into context_dir "
          "becomes the `context` parameter (and, with auto_generate, starts a job); one in init_dir starts a "
          f"variation. Each drop is announced to registered clients as `{DROP_ADDRESS} <kind> <path> <job_id or ''>`"
          f"; a file that is not usable audio as `/jbdiff/error {DROP_ADDRESS} <message> DropRejected`. "
          "Temp files (.tmp, .part, dot-files, Live's .asd) are ignored.",
          replies=("/jbdiff/hotfolder/status <key> <value> ...",)),
    Route("/jbdiff/hotfolder/drops", drops,
          "The most recent drops, newest first (as many as recent_jobs): kind (context|init), path, state "
          "(processing|done|rejected), the job it queued, the reason it was rejected.",
          replies=("/jbdiff/hotfolder/drops <kind> <path> <state> <job_id or ''> <error or ''> ...",)),
)


# Messages this domain sends on its own (documented beside the job events).
NEWS: dict[str, Message] = {
    "drop": Message(DROP_ADDRESS, (Arg("kind", "string", "context or init"),
                                   Arg("path", "string", "the dropped file"),
                                   Arg("job_id", "string", "the job it started, or ''")),
                    "A clip dropped into the hot folder was taken (sent to every registered client)."),
}
