"""The Max for Live device: its patch against the server's contract, its JavaScript tests, its .amxd.

The patch (max_for_live/device/jbdiff.maxpat) is checked as data: the OSC objects point at the
ports of configs/server.yaml, every address the device uses is in the server's table
(docs/osc.json, kept equal to the route tables by test_server_docs.py), every live.* parameter
has a name, a range and a default. Every message the device's JavaScript can build is fed,
as OSC bytes, through the server's own decoder and validation. The JavaScript's unit tests run
under Node's built-in test runner.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.osc.dispatch import all_routes, decode_packet
from server.osc.routes import check_args
from server.params import ParamStore, build_request, default_value, parse_pairs

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
M4L = ROOT / "max_for_live"
DEVICE = M4L / "device"
PATCH = json.loads((DEVICE / "jbdiff.maxpat").read_text())["patcher"]
BOXES = [b["box"] for b in PATCH["boxes"]]
API = json.loads((ROOT / "docs" / "osc.json").read_text())
SERVER_YAML = yaml.safe_load((ROOT / "configs" / "server.yaml").read_text())
MAX_JS = ("jbdiff_device.js", "jbdiff_session.js", "jbdiff_protocol.js")
# Requests the server offers that the device does not send yet; drop each entry once the device uses it.
NOT_IN_DEVICE_YET: frozenset[str] = frozenset()
MIN_NODE = 18


def node() -> str:
    """The node binary; a missing or old Node fails (CI has Node 20), it never skips."""
    path = shutil.which("node")
    if path is None:
        pytest.fail("Node.js is required for the Max for Live device tests: install Node 18+ (`node` on PATH)")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    match = re.match(r"v(\d+)\.", out.stdout.strip())
    if out.returncode != 0 or match is None:
        pytest.fail(f"`node --version` does not work: {out.stdout!r} {out.stderr!r}")
    if int(match.group(1)) < MIN_NODE:
        pytest.fail(f"Node {out.stdout.strip()} is too old: `node --test` needs Node {MIN_NODE}+")
    return path


def load_build() -> Any:
    spec = importlib.util.spec_from_file_location("m4l_build", M4L / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def server_addresses() -> set[str]:
    """Every address of the server's table: requests, their replies, job events, the error address."""
    out = {API["errors"]["address"]}
    for route in API["routes"]:
        out.add(route["address"])
        out.update(r.split()[0] for r in route["replies"] if r.startswith("/"))
    out.update(e["address"] for e in API["events"])
    return out


# ----------------------------------------------------------------------------- Node tests


def test_node_unit_tests_of_the_device_javascript_pass():
    out = subprocess.run([node(), "--test", "max_for_live/tests"], cwd=ROOT, capture_output=True, text=True,
                         timeout=110)
    summary = "\n".join(line for line in out.stdout.splitlines() if line.startswith(("# pass", "# fail", "not ok")))
    assert out.returncode == 0, f"node --test failed:\n{out.stdout[-6000:]}\n{out.stderr[-2000:]}"
    assert "# fail 0" in summary and re.search(r"# pass ([1-9]\d+)", summary), summary


# ------------------------------------------------------------------------- patch contract


def test_osc_objects_point_at_the_configured_host_and_ports():
    sends = [b["text"].split() for b in BOXES if b.get("text", "").startswith("udpsend ")]
    receives = [b["text"].split() for b in BOXES if b.get("text", "").startswith("udpreceive ")]
    assert sends == [["udpsend", SERVER_YAML["host"], str(SERVER_YAML["port"])]]
    assert receives == [["udpreceive", str(SERVER_YAML["reply_port"])]]
    initial = {b["varname"]: b["saved_attribute_attributes"]["valueof"]["parameter_initial"][0]
               for b in BOXES if b.get("varname") in ("port", "reply_port")}
    assert initial == {"port": SERVER_YAML["port"], "reply_port": SERVER_YAML["reply_port"]}


def test_every_address_the_device_uses_is_in_the_server_table():
    texts = [json.dumps(PATCH)] + [(DEVICE / name).read_text() for name in MAX_JS]
    used = set()
    for text in texts:
        used.update(re.findall(r"/jbdiff(?:/[a-z_]+)*", text))
    used.discard("/jbdiff")
    # jbdiff_protocol.js builds addresses from NS + "/..."; count those too
    used.update("/jbdiff" + a for a in re.findall(r'NS \+ "(/[a-z_/]+)"', (DEVICE / "jbdiff_protocol.js").read_text()))
    assert len(used) >= 25
    assert used <= server_addresses(), f"not in docs/osc.json: {sorted(used - server_addresses())}"
    assert {r.address for r in all_routes()} - NOT_IN_DEVICE_YET <= used, "the device ignores a request the server offers"
    assert not NOT_IN_DEVICE_YET & used, "the device uses it now: drop it from NOT_IN_DEVICE_YET"


def live_parameters() -> list[dict]:
    return [b for b in BOXES if b["maxclass"].startswith("live.") and b.get("parameter_enable") == 1]


def test_every_live_parameter_has_a_name_a_range_and_a_default():
    params = live_parameters()
    assert len(params) >= 20
    longnames = []
    for box in params:
        v = box["saved_attribute_attributes"]["valueof"]
        name = v.get("parameter_longname", "")
        assert name and v.get("parameter_shortname"), box
        longnames.append(name)
        assert box.get("varname"), f"{name}: no scripting name (the [js] reads it by name)"
        lo, hi = v["parameter_mmin"], v["parameter_mmax"]
        assert lo < hi, f"{name}: range {lo} .. {hi}"
        if v["parameter_type"] == 2:
            assert len(v["parameter_enum"]) == hi - lo + 1 and lo == 0, f"{name}: enum and range disagree"
        else:
            assert v["parameter_type"] in (0, 1), name
        assert v["parameter_initial_enable"] == 1, f"{name}: no default"
        (initial,) = v["parameter_initial"]
        assert lo <= initial <= hi, f"{name}: default {initial} outside {lo} .. {hi}"
        assert v.get("parameter_invisible", 0) in (0, 1), f"{name}: a hidden parameter is not saved with the set"
    assert len(set(longnames)) == len(longnames), "two parameters share a name"


def test_live_parameter_ranges_stay_inside_the_server_ranges():
    """Where the knob's ends are the server's ends (docs/osc.json '(lo .. hi)'), the knob does not pass them."""
    documented = {}
    for p in API["params"]:
        m = re.search(r"\((\d+(?:\.\d+)?) \.\. (\d+(?:\.\d+)?)\)", p["doc"])
        if m:
            documented[p["name"]] = (float(m.group(1)), float(m.group(2)))
    checked = 0
    for box in live_parameters():
        if box["varname"] in documented:
            v = box["saved_attribute_attributes"]["valueof"]
            lo, hi = documented[box["varname"]]
            assert lo <= v["parameter_mmin"] and v["parameter_mmax"] <= hi, box["varname"]
            checked += 1
    assert checked >= 4


def test_settings_kept_with_the_live_set_are_stored_only_blobs():
    stores = [b for b in BOXES if b.get("text", "").startswith("pattr ")]
    assert {b["varname"] for b in stores} == {"connection_store", "files_store", "recents_store"}
    for box in stores:
        v = box["saved_attribute_attributes"]["valueof"]
        assert box["saved_object_attributes"]["parameter_enable"] == 1
        assert v["parameter_longname"] and v["parameter_type"] == 3 and v["parameter_invisible"] == 1


# ------------------------------------------------------------- messages vs the real server


def device_messages() -> list[bytes]:
    out = subprocess.run([node(), "max_for_live/tests/dump_messages.js"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [bytes.fromhex(m["hex"]) for m in json.loads(out.stdout)]


def test_every_message_the_device_builds_passes_the_server_decoder_and_validation(tmp_path):
    routes = {r.address: r for r in all_routes()}
    store = ParamStore([tmp_path])
    seen: dict[str, int] = {}
    for data in device_messages():
        [(address, params)] = decode_packet(data)
        args = check_args(routes[address], params)
        if address == "/jbdiff/generate":
            pairs = parse_pairs(args)
            request = build_request([{"name": default_value("name")}, pairs], [tmp_path], resolve_paths=False)
            assert request.seconds_length == pytest.approx(pairs["seconds"])
            assert request.noise_seed == pairs["noise_seed"] and request.dd_noise_seed == pairs["dd_noise_seed"]
        elif address == "/jbdiff/param/set":
            store.set(args[0], args[1])
        seen[address] = seen.get(address, 0) + 1
    assert seen["/jbdiff/generate"] > 100 and seen["/jbdiff/param/set"] > 50
    assert set(seen) >= {"/jbdiff/ping", "/jbdiff/hello", "/jbdiff/bye", "/jbdiff/status", "/jbdiff/cancel",
                         "/jbdiff/job/get", "/jbdiff/param/list", "/jbdiff/model/list", "/jbdiff/model/get",
                         "/jbdiff/model/set"}


# ----------------------------------------------------------------------------------- .amxd


def test_the_committed_amxd_is_a_fresh_reproducible_build():
    build = load_build()
    source = (DEVICE / "jbdiff.maxpat").read_text()
    fresh = build.amxd_bytes(source)
    assert fresh == build.amxd_bytes(source)
    assert (DEVICE / "jbdiff.amxd").read_bytes() == fresh, "run: python max_for_live/build.py"


def test_amxd_container_layout():
    build = load_build()
    data = (DEVICE / "jbdiff.amxd").read_bytes()
    assert data[:4] == b"ampf" and struct.unpack("<I", data[4:8]) == (4,) and data[8:12] == b"aaaa"
    chunks = build.read_amxd(data)
    assert list(chunks) == ["ampf", "meta", "ptch"]
    assert struct.unpack("<I", chunks["meta"]) == (1,)
    assert chunks["ptch"].endswith(b"\n\x00")
    assert json.loads(chunks["ptch"][:-1].decode()) == {"patcher": PATCH}
    assert len(data) == 3 * 8 + 4 + 4 + len(chunks["ptch"])


def test_build_refuses_bad_input_and_check_reports_a_stale_file(tmp_path):
    build = load_build()
    with pytest.raises(build.AmxdError, match="not valid JSON"):
        build.amxd_bytes("{nope")
    with pytest.raises(build.AmxdError, match="'patcher'"):
        build.amxd_bytes('{"boxes": []}')
    with pytest.raises(build.AmxdError, match="allowed: audio, midi, instrument"):
        build.amxd_bytes('{"patcher": {}}', "video")
    with pytest.raises(build.AmxdError, match="ampf"):
        build.read_amxd(b"ptch\x00\x00\x00\x00")
    assert build.amxd_bytes('{"patcher": {}}', "midi")[8:12] == b"mmmm"
    assert build.amxd_bytes('{"patcher": {}}\r\n') == build.amxd_bytes('{"patcher": {}}')
    out = tmp_path / "x.amxd"
    assert build.main(["--check", "--output", str(out)]) == 1
    assert build.main(["--output", str(out)]) == 0
    assert build.main(["--check", "--output", str(out)]) == 0
    assert out.read_bytes() == (DEVICE / "jbdiff.amxd").read_bytes()
