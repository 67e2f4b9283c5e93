"""docs/osc.md and docs/osc.json are generated from the route tables; they must match the code."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from server.errors import ERROR_CLASSES, ServerError
from server.osc.dispatch import all_routes
from server.osc.docs import describe_dict, render_json, render_markdown
from server.osc.job import EVENTS
from server.queue import EventKind

DOCS = Path(__file__).resolve().parents[1] / "docs"
REGENERATE = "regenerate: python -m server.osc.docs > docs/osc.md && python -m server.osc.docs --json > docs/osc.json"


def test_committed_markdown_equals_the_generated_text():
    assert (DOCS / "osc.md").read_text() == render_markdown(), REGENERATE


def test_committed_json_equals_the_generated_text():
    assert (DOCS / "osc.json").read_text() == render_json(), REGENERATE


def test_every_route_is_documented_and_its_handler_takes_its_arguments():
    for route in all_routes():
        assert route.address.startswith("/jbdiff/") and route.doc and route.replies, route.address
        params = list(inspect.signature(route.handler).parameters.values())[1:]      # after the Call
        if route.rest is not None:
            assert params[-1].kind == inspect.Parameter.VAR_POSITIONAL, route.address
            params = params[:-1]
        assert [p.name for p in params] == [a.name for a in route.args], route.address


def test_every_event_kind_has_a_message_and_every_error_code_is_listed():
    assert set(EVENTS) == set(EventKind)
    codes = describe_dict()["errors"]["codes"]
    subclasses = {c for c in vars(__import__("server.errors", fromlist=["x"])).values()
                  if isinstance(c, type) and issubclass(c, ServerError) and c is not ServerError}
    assert subclasses == set(ERROR_CLASSES)
    assert set(codes) == {c.code for c in ERROR_CLASSES} and len(codes) == len(ERROR_CLASSES)


def test_describe_reply_is_the_same_data_and_fits_a_datagram():
    text = json.dumps(describe_dict(), separators=(",", ":"))
    assert json.loads(text) == json.loads(render_json())
    assert len(text.encode()) < 60000
