"""Fuzzing the OSC handler: random datagrams and random arguments never crash it, and it keeps answering."""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.app import Server
from server.errors import BadPacket
from server.osc.dispatch import BUNDLE_PREFIX, all_routes, decode_packet
from tests.server_helpers import OscClient, StandInEngine, make_config, osc_bytes

pytestmark = pytest.mark.timeout(120)
SENDER = ("127.0.0.1", 50000)
ADDRESSES = [r.address for r in all_routes()]


class Sent(list):
    """Captured replies (a short repr keeps hypothesis reports readable)."""

    def __repr__(self) -> str:
        return f"<{len(self)} replies>"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A started server whose sends are captured: handler replies and job events apart."""
    gate = threading.Event()                       # generated jobs wait, so the fuzz runs no models
    cfg = make_config(tmp_path_factory.mktemp("fuzz"), max_queue=8, max_packet_bytes=2048)
    srv = Server(cfg, engine_loader=lambda device: StandInEngine(gate=gate)).start()
    srv.workers[0].loaded.wait(10)
    replies, events = Sent(), Sent()
    real_send = srv.transport.send
    srv.dispatcher._send = lambda address, args, to: replies.append((address, list(args)))
    srv.transport.send = lambda address, args, to: events.append((address, list(args)))
    yield srv, replies, events
    srv.dispatcher._send = real_send
    srv.transport.send = real_send
    gate.set()
    srv.stop(on_shutdown="cancel")


osc_args = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31 - 1), st.floats(width=32),
    st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40),
    st.binary(min_size=1, max_size=16), st.booleans(), st.none(),
    st.sampled_from(["seconds", "bars", "bpm", "levels", "context", "init", "all", "default", "name", "tag",
                     "noise_seed", "steps", "use_dd", "../x.wav", "/dev/zero", ""]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes_never_raise_and_are_answered(server, data):
    srv, replies, events = server
    before = len(replies) + len(events)
    srv.dispatcher.handle_packet(data, SENDER)
    empty_bundle = data.startswith(BUNDLE_PREFIX) and len(data) <= 16
    assert len(replies) + len(events) > before or empty_bundle


REPLY_ADDRESS = {"/jbdiff/ping": "/jbdiff/pong", "/jbdiff/hello": "/jbdiff/hello/ok", "/jbdiff/bye": "/jbdiff/bye/ok",
                 "/jbdiff/generate": "/jbdiff/job/accepted"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(address=st.sampled_from(ADDRESSES), args=st.lists(osc_args, max_size=8))
def test_random_arguments_on_every_address_are_answered(server, address, args):
    srv, replies, events = server
    r0, e0 = len(replies), len(events)
    srv.dispatcher.handle_packet(osc_bytes(address, *args), SENDER)
    answers = [a for a, _ in replies[r0:]] + [a for a, _ in events[e0:] if a == "/jbdiff/job/accepted"]
    assert answers and answers[0] in (REPLY_ADDRESS.get(address, address), "/jbdiff/error"), (address, args)


def test_mutated_messages_over_udp_then_the_server_still_answers(tmp_path):
    rng = random.Random(1234)
    cfg = make_config(tmp_path, max_packet_bytes=1024)
    gate = threading.Event()
    srv = Server(cfg, engine_loader=lambda device: StandInEngine(gate=gate)).start()
    client = OscClient(srv.address)
    try:
        client.request("/jbdiff/hello", client.port, reply="/jbdiff/hello/ok")
        seeds = [osc_bytes(a, *args) for a, args in [
            ("/jbdiff/generate", ["seconds", 1.0, "levels", "21"]), ("/jbdiff/param/set", ["bpm", 120.0]),
            ("/jbdiff/cancel", ["all"]), ("/jbdiff/preset/save", ["x"]), ("/jbdiff/param/get", ["seconds"])]]
        for _ in range(1500):
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 6)):
                op = rng.random()
                pos = rng.randrange(len(data) + 1)
                if op < 0.5 and data:
                    data[min(pos, len(data) - 1)] = rng.randrange(256)
                elif op < 0.8:
                    data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
                else:
                    del data[pos:pos + rng.randint(1, 8)]
            client.send_raw(bytes(data))
        client.send("/jbdiff/ping")
        client.expect("/jbdiff/pong", 20)
        assert srv.transport._thread.is_alive()
    finally:
        gate.set()
        srv.stop(on_shutdown="cancel")
        client.close()


def test_nested_and_oversized_bundles_are_refused():
    inner = osc_bytes("/jbdiff/ping")
    data = inner
    for _ in range(6):
        data = BUNDLE_PREFIX + b"\x00" * 8 + len(data).to_bytes(4, "big") + data
    with pytest.raises(BadPacket, match="nested"):
        decode_packet(data)
    many = BUNDLE_PREFIX + b"\x00" * 8 + (len(inner).to_bytes(4, "big") + inner) * 100
    with pytest.raises(BadPacket, match="more than 64"):
        decode_packet(many)
