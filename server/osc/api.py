"""``/jbdiff/ping``, ``hello``, ``bye``, ``status`` and ``api/describe``: the connection and the server itself."""

from __future__ import annotations

import json

from jbdiff import __version__
from server.osc.routes import Arg, Call, Reply, Route


def ping(call: Call) -> list[Reply]:
    return [Reply("/jbdiff/pong", [__version__])]


def hello(call: Call, reply_port: int) -> list[Reply]:
    to = call.server.clients.register(call.sender, reply_port)
    return [Reply("/jbdiff/hello/ok", [__version__], to=to)]


def bye(call: Call) -> list[Reply]:
    to = call.server.clients.reply_address(call.sender)
    call.server.clients.unregister(call.sender)
    return [Reply("/jbdiff/bye/ok", [], to=to)]


def status(call: Call) -> list[Reply]:
    flat: list[object] = []
    for key, value in call.server.status_items():
        flat += [key, value]
    return [Reply("/jbdiff/status", flat)]


def describe(call: Call) -> list[Reply]:
    from server.osc.docs import describe_dict

    return [Reply("/jbdiff/api/describe", [json.dumps(describe_dict(), separators=(",", ":"))])]


ROUTES: tuple[Route, ...] = (
    Route("/jbdiff/ping", ping, "Is the server there? Answers at once, even while a job renders.",
          replies=("/jbdiff/pong <version>",)),
    Route("/jbdiff/hello", hello,
          "Register the port this client listens on; every later reply to this client (same host and "
          "source port) and its job events go there. Also lists the client for events of jobs that have "
          "no client (hot folder, MIDI).",
          args=(Arg("reply_port", "int", "UDP port the client listens on (1 .. 65535)"),),
          replies=("/jbdiff/hello/ok <version> (sent to the new port)",)),
    Route("/jbdiff/bye", bye, "Forget this client's registration (replies go to the default reply port again).",
          replies=("/jbdiff/bye/ok",)),
    Route("/jbdiff/status", status,
          "Server state as key/value pairs: version, model (loading|ready|missing|error: the workers' engines), "
          "model_message, model_name (the model the next jobs render with, see /jbdiff/model/set), queued, "
          "running, workers, worker_mode (thread|process), worker.<n> (device, state, job; state is restarting "
          "while a crashed worker process waits to restart), worker.<n>.pid (its process), worker.<n>.restarts, "
          "worker.<n>.model (the model it has loaded; '' for none), accepting, uptime_s, data_dir, output_dir.",
          replies=("/jbdiff/status <key> <value> ...",)),
    Route("/jbdiff/api/describe", describe,
          "The whole address space, parameters and error codes as one JSON string (the same data as docs/osc.json).",
          replies=("/jbdiff/api/describe <json>",)),
)
