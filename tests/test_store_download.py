"""Downloads against a real HTTP server on 127.0.0.1: resume, retries, checksums, error messages."""

from __future__ import annotations

import hashlib
import os
import random
import re
import socket
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from jbdiff.errors import CheckpointError
from jbdiff.store.download import LOCK_NAME, download
from jbdiff.store.errors import (
    ChecksumMismatch,
    DiskFull,
    DownloadError,
    HostUnreachable,
    RemoteNotFound,
)
from jbdiff.store.registry import CheckpointEntry
from jbdiff.store.resolve import status
from jbdiff.store.verify import sidecar_path

FILENAME = "epoch=7-step=70.ckpt"
DATA = random.Random(1234).randbytes(300_001)
SHA = hashlib.sha256(DATA).hexdigest()


class FileServer:
    """Serves `files` by path; `plan[path]` lists per-request actions, then plain serving."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.plan: dict[str, list] = defaultdict(list)
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    def next_action(self, path: str):
        with self.lock:
            return self.plan[path].pop(0) if self.plan[path] else "serve"


def _make_handler(state: FileServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def _send(self, code: int, headers: dict[str, str], body: bytes, limit: int | None = None):
            self.send_response(code)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body if limit is None else body[:limit])
            self.wfile.flush()
            self.close_connection = True

        def do_GET(self) -> None:
            path = unquote(self.path)
            rng = self.headers.get("Range")
            with state.lock:
                state.requests.append((path, rng))
            action = state.next_action(path)
            data = state.files.get(path)
            if isinstance(action, tuple) and action[0] == "slow":
                time.sleep(action[1])
            if isinstance(action, tuple) and action[0] == "redirect":
                self._send(302, {"Location": action[1], "Content-Length": "0"}, b"")
                return
            if isinstance(action, tuple) and action[0] == "status":
                self._send(action[1], {"Content-Length": "5"}, b"error")
                return
            if data is None:
                self._send(404, {"Content-Length": "9"}, b"not found")
                return
            start = 0
            m = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if m and action != "ignore_range":
                start = int(m.group(1))
                if start >= len(data):
                    self._send(
                        416, {"Content-Range": f"bytes */{len(data)}", "Content-Length": "0"}, b""
                    )
                    return
            body = data[start:]
            headers = {"Content-Length": str(len(body))}
            code = 200
            if start:
                code = 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            limit = action[1] if isinstance(action, tuple) and action[0] == "drop" else None
            self._send(code, headers, body, limit)

    return Handler


@pytest.fixture
def server():
    state = FileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _entry(urls, sha256: str | None = SHA, filename: str = FILENAME) -> CheckpointEntry:
    return CheckpointEntry(name="test-ckpt", filename=filename, urls=tuple(urls), sha256=sha256)


def _serve(server: FileServer, data: bytes = DATA, prefix: str = "/v1") -> str:
    server.files[f"{prefix}/{FILENAME}"] = data
    return f"{server.base}{prefix}/{quote(FILENAME)}"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_full_download_verifies_and_installs(server, tmp_path):
    url = _serve(server)
    path = download(_entry([url]), tmp_path, progress=False, sleep=Sleeps())
    assert path == tmp_path / FILENAME
    assert path.read_bytes() == DATA
    assert server.requests == [(f"/v1/{FILENAME}", None)]
    assert _leftovers(tmp_path) == sorted([FILENAME, FILENAME + ".sha256.json", LOCK_NAME])
    assert status(_entry([url]), tmp_path) == "verified"


def test_resume_after_connection_dropped_mid_file(server, tmp_path):
    url = _serve(server)
    server.plan[f"/v1/{FILENAME}"] = [("drop", 70_000)]
    sleeps = Sleeps()
    path = download(_entry([url]), tmp_path, progress=False, backoff=0.5, sleep=sleeps)
    assert len(server.requests) == 2
    assert server.requests[0][1] is None
    assert server.requests[1][1] == "bytes=70000-"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA
    # the dropped attempt made progress, so the first back-off step is used, not a later one
    assert sleeps == [0.5]
    assert not (tmp_path / (FILENAME + ".part")).exists()


def test_resume_through_a_redirect_keeps_the_range_header(server, tmp_path):
    # the Hugging Face hub answers with a redirect to its CDN; the resumed request must still ask for the tail
    url = _serve(server)
    cdn = _serve(server, prefix="/cdn")
    hub = f"/v1/{FILENAME}"
    server.plan[hub] = [("redirect", cdn), ("redirect", cdn)]
    server.plan[f"/cdn/{FILENAME}"] = [("drop", 64_000)]
    path = download(_entry([url]), tmp_path, progress=False, sleep=Sleeps())
    assert server.requests[-1] == (f"/cdn/{FILENAME}", "bytes=64000-")
    assert path.read_bytes() == DATA


def test_server_that_ignores_range_restarts_from_zero(server, tmp_path):
    url = _serve(server)
    server.plan[f"/v1/{FILENAME}"] = [("drop", 50_000), "ignore_range"]
    path = download(_entry([url]), tmp_path, progress=False, sleep=Sleeps())
    assert server.requests[1][1] == "bytes=50000-"
    assert path.read_bytes() == DATA  # not the first 50 kB followed by the whole file again


def test_complete_part_file_answered_with_416_is_verified_not_refetched(server, tmp_path):
    url = _serve(server)
    (tmp_path / (FILENAME + ".part")).write_bytes(DATA)
    path = download(_entry([url]), tmp_path, progress=False, sleep=Sleeps())
    assert server.requests == [(f"/v1/{FILENAME}", f"bytes={len(DATA)}-")]
    assert path.read_bytes() == DATA


def test_checksum_mismatch_is_refused_and_kept_aside(server, tmp_path):
    url = _serve(server)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ChecksumMismatch) as info:
        download(_entry([url], sha256=wrong), tmp_path, progress=False, clock=lambda: 0.0)
    msg = str(info.value)
    assert wrong in msg and SHA in msg
    assert not (tmp_path / FILENAME).exists()
    assert not (tmp_path / (FILENAME + ".part")).exists()
    bad = tmp_path / f"{FILENAME}.bad-19700101T000000Z"
    assert bad.read_bytes() == DATA
    assert str(bad) in msg
    assert isinstance(info.value, CheckpointError)


def test_http_404_names_the_url_and_is_not_retried(server, tmp_path):
    url = f"{server.base}/v1/{quote(FILENAME)}"
    sleeps = Sleeps()
    with pytest.raises(RemoteNotFound) as info:
        download(_entry([url]), tmp_path, progress=False, sleep=sleeps)
    assert url in str(info.value) and "404" in str(info.value)
    assert sleeps == [] and len(server.requests) == 1
    assert not (tmp_path / FILENAME).exists()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_host_names_the_host_after_backoff(tmp_path):
    port = _closed_port()
    sleeps = Sleeps()
    with pytest.raises(HostUnreachable) as info:
        download(
            _entry([f"http://127.0.0.1:{port}/x/{FILENAME}"]),
            tmp_path,
            progress=False,
            retries=3,
            backoff=0.01,
            sleep=sleeps,
        )
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "--mirror" in str(info.value)
    assert sleeps == pytest.approx([0.01, 0.02, 0.04])  # backoff * 2**attempt


def test_5xx_is_retried_with_backoff(server, tmp_path):
    url = _serve(server)
    server.plan[f"/v1/{FILENAME}"] = [("status", 503), ("status", 502)]
    sleeps = Sleeps()
    path = download(_entry([url]), tmp_path, progress=False, backoff=0.25, sleep=sleeps)
    assert path.read_bytes() == DATA
    assert sleeps == [0.25, 0.5]


def test_5xx_forever_gives_up_with_a_message(server, tmp_path):
    url = _serve(server)
    server.plan[f"/v1/{FILENAME}"] = [("status", 500)] * 3
    with pytest.raises(DownloadError, match="HTTP 500") as info:
        download(_entry([url]), tmp_path, progress=False, retries=2, sleep=Sleeps())
    assert not isinstance(info.value, (HostUnreachable, RemoteNotFound))


def test_second_url_is_used_when_first_is_missing(server, tmp_path):
    good = _serve(server)
    missing = f"{server.base}/gone/{quote(FILENAME)}"
    path = download(_entry([missing, good]), tmp_path, progress=False, sleep=Sleeps())
    assert path.read_bytes() == DATA
    assert [p for p, _ in server.requests] == [f"/gone/{FILENAME}", f"/v1/{FILENAME}"]


def test_present_verified_file_is_not_downloaded_again(server, tmp_path):
    url = _serve(server)
    download(_entry([url]), tmp_path, progress=False)
    assert len(server.requests) == 1
    download(_entry([url]), tmp_path, progress=False)
    sidecar_path(tmp_path / FILENAME).unlink()  # without the cache it re-hashes, still no request
    download(_entry([url]), tmp_path, progress=False)
    assert len(server.requests) == 1


def test_present_but_corrupt_file_is_set_aside_and_replaced(server, tmp_path):
    url = _serve(server)
    (tmp_path / FILENAME).write_bytes(DATA[:-1] + b"\x00")
    path = download(_entry([url]), tmp_path, progress=False, clock=lambda: 0.0)
    assert path.read_bytes() == DATA
    assert len(server.requests) == 1
    assert (tmp_path / f"{FILENAME}.bad-19700101T000000Z").exists()


def test_http_mirror_replaces_the_base_and_keeps_the_filename(server, tmp_path):
    _serve(server, prefix="/mirror/sub")
    entry = _entry(["https://example.invalid/never/used.ckpt"])
    path = download(entry, tmp_path, mirror=f"{server.base}/mirror/sub/", progress=False)
    assert path.read_bytes() == DATA
    assert server.requests == [(f"/mirror/sub/{FILENAME}", None)]


def test_file_url_mirror_and_plain_folder_mirror(tmp_path):
    src = tmp_path / "copy"
    src.mkdir()
    (src / FILENAME).write_bytes(DATA)
    entry = _entry(["https://example.invalid/never/used.ckpt"])
    a = download(entry, tmp_path / "a", mirror=src.as_uri(), progress=False)
    b = download(entry, tmp_path / "b", mirror=str(src), progress=False)
    assert a.read_bytes() == DATA and b.read_bytes() == DATA
    assert status(entry, tmp_path / "b") == "verified"


def test_file_url_in_registry_works_as_a_source(tmp_path):
    src = tmp_path / "copy"
    src.mkdir()
    (src / FILENAME).write_bytes(DATA)
    path = download(_entry([(src / FILENAME).as_uri()]), tmp_path / "dest", progress=False)
    assert path.read_bytes() == DATA


def test_mirror_folder_without_the_file_is_a_clear_error(tmp_path):
    (tmp_path / "copy").mkdir()
    with pytest.raises(RemoteNotFound, match=re.escape(FILENAME)):
        download(
            _entry(["https://example.invalid/x"]), tmp_path / "d", mirror=str(tmp_path / "copy")
        )
    with pytest.raises(RemoteNotFound, match="does not exist"):
        download(
            _entry(["https://example.invalid/x"]), tmp_path / "d", mirror=str(tmp_path / "nope")
        )


def test_unsupported_mirror_scheme(tmp_path):
    with pytest.raises(DownloadError, match="http"):
        download(_entry(["https://example.invalid/x"]), tmp_path, mirror="ftp://host/dir")


@pytest.mark.skipif(
    not os.path.exists("/dev/full"), reason="needs Linux /dev/full to produce ENOSPC"
)
def test_disk_full_while_writing_names_folder_and_size(server, tmp_path):
    url = _serve(server)
    (tmp_path / (FILENAME + ".part")).symlink_to("/dev/full")  # every write fails with ENOSPC
    with pytest.raises(DiskFull) as info:
        download(_entry([url]), tmp_path, progress=False, sleep=Sleeps())
    msg = str(info.value)
    assert str(tmp_path) in msg and "300.0 kB" in msg
    assert not (tmp_path / FILENAME).exists()


def test_disk_space_is_checked_before_writing(server, tmp_path, monkeypatch):
    url = _serve(server)

    class Usage:
        total, used, free = 10**9, 10**9 - 1000, 1000

    monkeypatch.setattr("shutil.disk_usage", lambda _p: Usage)
    with pytest.raises(DiskFull) as info:
        download(_entry([url]), tmp_path, progress=False)
    msg = str(info.value)
    assert str(tmp_path) in msg and "needs 300.0 kB" in msg and "1.0 kB free" in msg
    assert not (tmp_path / (FILENAME + ".part")).exists()


def test_unverifiable_entry_is_installed_and_reported_present(server, tmp_path):
    url = _serve(server)
    path = download(_entry([url], sha256=None), tmp_path, progress=False)
    assert path.read_bytes() == DATA
    assert status(_entry([url], sha256=None), tmp_path) == "present"


def test_progress_bar_on_a_terminal_counts_resumed_bytes(server, tmp_path, monkeypatch):
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    url = _serve(server)
    server.plan[f"/v1/{FILENAME}"] = [("drop", 100_000)]
    fake = Tty()
    monkeypatch.setattr("sys.stderr", fake)
    download(_entry([url]), tmp_path, progress=True, sleep=Sleeps())
    shown = fake.getvalue()
    percents = [int(p) for p in re.findall(r"(\d+)%\|", shown)]
    assert (
        FILENAME in shown and percents[-1] == 100 and max(percents) == 100
    )  # resumed bytes not counted twice


def test_no_progress_output_when_disabled(server, tmp_path, capsys):
    url = _serve(server)
    download(_entry([url]), tmp_path, progress=False)
    assert capsys.readouterr().err == ""


def test_concurrent_downloads_of_one_file_fetch_it_once(server, tmp_path):
    url = _serve(server)
    server.plan[f"/v1/{FILENAME}"] = [("slow", 0.3)]
    results: list = []

    def worker() -> None:
        results.append(download(_entry([url]), tmp_path, progress=False, sleep=Sleeps()))

    first = threading.Thread(target=worker)
    first.start()
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:  # first holds the lock now
        time.sleep(0.01)
    second = threading.Thread(target=worker)
    second.start()
    first.join(10)
    second.join(10)
    assert len(results) == 2 and all(p.read_bytes() == DATA for p in results)
    assert len(server.requests) == 1
