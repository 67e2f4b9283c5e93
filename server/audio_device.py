"""The server machine's sound card: play a result (``/jbdiff/preview``), record a context clip (``/jbdiff/record_context``).

Optional: it needs the ``sounddevice`` package (the ``audio`` extra) and the PortAudio library.
Without them, or without the named device, both routes answer ``DeviceUnavailable`` and nothing
else is affected. A recording is written with ``save_wav`` (temp name, then rename) into the
drop folder's ``context/``, so the hot folder takes it like any dropped clip.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jbdiff.audio import read_audio, save_wav
from jbdiff.errors import AudioError
from server.errors import BadRequest, DeviceUnavailable
from server.frontends import find_service
from server.journal import JobState

if TYPE_CHECKING:
    from server.app import Server

logger = logging.getLogger(__name__)

RECORD_BLOCK_S = 0.1            # a recording checks for shutdown this often
INSTALL_HINT = "pip install 'jukebox-diffusion[audio]'"


def load_sounddevice() -> Any:
    """Import sounddevice, or say in one line why the sound card cannot be used."""
    try:
        import sounddevice
    except ImportError:
        raise DeviceUnavailable(f"audio: sounddevice is not installed ({INSTALL_HINT}); preview and "
                                "record_context are unavailable, everything else works") from None
    except OSError as exc:      # sounddevice is there but the PortAudio library is not
        raise DeviceUnavailable(f"audio: the PortAudio library cannot be loaded ({exc}); install it "
                                "(e.g. apt install libportaudio2); preview and record_context are "
                                "unavailable, everything else works") from None
    return sounddevice


class AudioDevice:
    """Preview and recording on the server's own audio device; the backend is loaded on first use."""

    def __init__(self, server: Server, *, backend: Callable[[], Any] = load_sounddevice,
                 now: Callable[[], float] = time.time) -> None:
        self.server = server
        self.cfg = server.cfg.audio
        self._load = backend
        self._now = now
        self._sd: Any = None
        self._unavailable: DeviceUnavailable | None = None
        self._lock = threading.Lock()
        self._recording: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """Nothing to open up front: PortAudio starts on first use (importing it can be slow and noisy)."""

    def stop(self) -> None:
        self._stop.set()
        rec = self._recording
        if rec is not None:
            rec.join(5.0)
        if self._sd is not None:
            try:
                self._sd.stop()
            except Exception:  # noqa: BLE001 - shutting down: nothing to report to
                logger.debug("audio: stopping playback failed", exc_info=True)

    def backend(self) -> Any:
        """sounddevice, or DeviceUnavailable (the reason is logged the first time only)."""
        with self._lock:
            if self._sd is not None:
                return self._sd
            if self._unavailable is not None:
                raise self._unavailable
            try:
                self._sd = self._load()
            except DeviceUnavailable as exc:
                self._unavailable = exc
                logger.warning("%s", exc)
                raise
            return self._sd

    # ------------------------------------------------------------------ preview

    def preview(self, job_id: str) -> float:
        """Play a finished job's WAV on the output device; returns its length in seconds."""
        job = self.server.get_job(job_id)
        if job.state != JobState.DONE or not job.result_path:
            raise BadRequest(f"job {job_id} is {job.state.value}; only a done job can be previewed")
        sd = self.backend()
        try:
            audio, rate = read_audio(job.result_path)
        except AudioError as exc:
            raise BadRequest(f"job {job_id}: {exc}") from None
        try:
            sd.play(np.ascontiguousarray(audio.T), rate, device=self.cfg.output_device)
        except Exception as exc:  # noqa: BLE001 - PortAudioError, ValueError for a bad device, ...
            raise DeviceUnavailable(f"audio: cannot play on {self._device_name(self.cfg.output_device)} "
                                    f"({type(exc).__name__}: {exc})") from None
        return audio.shape[1] / float(rate)

    def stop_preview(self) -> None:
        self.backend().stop()

    # ------------------------------------------------------------------ recording

    def record(self, seconds: float, device: Any = None,
               done: Callable[[Path | None, Exception | None], None] | None = None) -> Path:
        """Start recording ``seconds`` into context/; returns the file it will be (``done`` is told when it is)."""
        if not 0 < seconds <= self.cfg.record_max_s:
            raise BadRequest(f"seconds: {seconds!r} is out of range (allowed: > 0 .. {self.cfg.record_max_s:g}; "
                             "audio.record_max_s in configs/server.yaml)")
        if self._recording is not None and self._recording.is_alive():
            raise BadRequest("already recording; wait for /jbdiff/record_context/done")
        sd = self.backend()
        device = self.cfg.input_device if device in (None, "") else device
        rate = self.cfg.sample_rate
        channels = self._input_channels(sd, device)
        try:
            stream = sd.InputStream(samplerate=rate, channels=channels, device=device, dtype="float32")
            stream.start()
        except Exception as exc:  # noqa: BLE001 - PortAudioError, ValueError (no such device), ...
            raise DeviceUnavailable(f"audio: cannot record from {self._device_name(device)} "
                                    f"({type(exc).__name__}: {exc})") from None
        path = self._new_path()
        frames = int(round(seconds * rate))
        self._stop.clear()
        self._recording = threading.Thread(target=self._record, args=(stream, frames, rate, path, done),
                                           name="jbdiff-record", daemon=True)
        self._recording.start()
        logger.info("audio: recording %.1f s from %s into %s", seconds, self._device_name(device), path)
        return path

    def _record(self, stream: Any, frames: int, rate: int, path: Path,
                done: Callable[[Path | None, Exception | None], None] | None) -> None:
        blocks: list[np.ndarray] = []
        got = 0
        error: Exception | None = None
        try:
            step = max(1, int(rate * RECORD_BLOCK_S))
            while got < frames and not self._stop.is_set():
                data, overflowed = stream.read(min(step, frames - got))
                if overflowed:
                    logger.debug("audio: input overflow while recording %s", path.name)
                blocks.append(np.asarray(data, dtype=np.float32))
                got += len(data)
            if got == 0:
                raise DeviceUnavailable("audio: the recording stopped before any audio arrived")
            save_wav(path, np.concatenate(blocks).T, rate)
        except Exception as exc:  # noqa: BLE001 - the device went away, the disk is full, ...
            error = exc if isinstance(exc, DeviceUnavailable) else DeviceUnavailable(
                f"audio: recording into {path.name} failed ({type(exc).__name__}: {exc})")
            logger.warning("%s", error)
        finally:
            try:
                stream.stop()
                stream.close()
            except Exception:  # noqa: BLE001 - closing a broken stream
                logger.debug("audio: closing the input stream failed", exc_info=True)
        if error is None:
            self._use(path)
        if done is not None:
            done(None if error else path, error)

    def _use(self, path: Path) -> None:
        """The hot folder takes the new file from context/; without it, set the context directly."""
        from server.hotfolder import HotFolder

        if find_service(self.server, HotFolder) is None:
            try:
                self.server.set_param("context", str(path))
            except Exception as exc:  # noqa: BLE001 - the recording itself is fine; say why it is not the context
                logger.warning("audio: recorded %s but cannot make it the context: %s", path, exc)

    def _new_path(self) -> Path:
        folder = self.server.cfg.context_path
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self._now()))
        path = folder / f"rec-{stamp}.wav"
        n = 1
        while path.exists():
            n += 1
            path = folder / f"rec-{stamp}-{n}.wav"
        return path

    def _input_channels(self, sd: Any, device: Any) -> int:
        """The configured channel count, or fewer if the device has fewer inputs."""
        try:
            info = sd.query_devices(device, "input")
            available = int(info["max_input_channels"])
        except Exception as exc:  # noqa: BLE001 - no such device: say which exist
            raise DeviceUnavailable(f"audio: no input device {self._device_name(device)} ({exc}); "
                                    "/jbdiff/audio/devices lists them") from None
        if available < 1:
            raise DeviceUnavailable(f"audio: {self._device_name(device)} has no inputs")
        return min(self.cfg.record_channels, available)

    @staticmethod
    def _device_name(device: Any) -> str:
        return "the default device" if device in (None, "") else f"device {device!r}"

    # ------------------------------------------------------------------ listing

    def devices(self) -> list[tuple[int, str, int, int]]:
        """(index, name, input channels, output channels) of every device PortAudio sees."""
        sd = self.backend()
        try:
            listed = sd.query_devices()
        except Exception as exc:  # noqa: BLE001
            raise DeviceUnavailable(f"audio: cannot list devices ({type(exc).__name__}: {exc})") from None
        return [(i, str(d["name"]), int(d["max_input_channels"]), int(d["max_output_channels"]))
                for i, d in enumerate(listed)]

    def status_items(self) -> list[tuple[str, Any]]:
        state = "ready" if self._sd is not None else ("unavailable" if self._unavailable else "not loaded")
        return [("audio", state), ("audio_message", str(self._unavailable or "")),
                ("recording", int(self._recording is not None and self._recording.is_alive()))]
