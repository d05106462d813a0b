"""The daemon: config, audio, controls, link and conversation under one asyncio loop.

Everything here is wiring. The conversation machine decides; this module turns
buttons, audio frames and server events into the machine's events, and carries
out the actions it returns on the link, the audio engine, the LED and the
journal. PortAudio and gpiozero threads only hand data to this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edged import config as config_mod
from edged.audio_port import AudioPort
from edged.config import Config
from edged.control.server import ControlServer, start_control
from edged.conversation import (
    Action,
    AnswerAudio,
    AnswerAudioDone,
    Committed,
    Conversation,
    EndAnswer,
    Event,
    FlushPlayback,
    LinkDown,
    LinkUp,
    MicAudio,
    Notice,
    PlayAnswer,
    PlaybackFlushed,
    PlaybackIdle,
    PlaySound,
    PttDown,
    PttUp,
    ResponseDone,
    ResponseStarted,
    SendAppend,
    SendClear,
    SendCommit,
    SendResponseCancel,
    SendResponseCreate,
    SendText,
    SendTruncate,
    ServerError,
    SetHandsFree,
    SetLed,
    SetMic,
    Settings,
    SpeechStarted,
    SpeechStopped,
    Tick,
)
from edged.health.metrics import Metrics
from edged.health.notify import Notifier, Watchdog
from edged.health.reporter import HealthReporter
from edged.realtime import events as rt
from edged.realtime.link import Link, LinkStatus

log = logging.getLogger("edged")

EXIT_OK = 0
EXIT_CONFIG = 2  # a condition the owner must fix (config, GPIO, devices)
AUDIO_COUNTERS_S = 5.0
SHUTDOWN_RELOAD_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did: ``changed`` dotted keys, or the ``problems`` that refused it."""

    applied: bool
    changed: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    coalesced: int = 0


AudioFactory = Callable[[Config, asyncio.AbstractEventLoop, "Daemon"], AudioPort]


@dataclass
class Timeline:
    """Timestamps the demo, the benchmark and the tests read (monotonic seconds)."""

    entries: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    keep: bool = False

    def add(self, t: float, what: str, **fields: Any) -> None:
        if self.keep:
            self.entries.append((t, what, fields))


class Daemon:
    """One speaker. ``run()`` until ``stop()``; ``reload()`` re-reads the config."""

    def __init__(
        self,
        config: Config,
        *,
        audio_factory: AudioFactory,
        key_source: Callable[[], str] | None = None,
        pin_factory: Any = None,
        ssl_context: Any = None,
        notifier: Notifier | None = None,
        config_path: str | None = None,
        timeline: Timeline | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self._audio_factory = audio_factory
        self._key_source = key_source or self._read_key
        self._pin_factory = pin_factory
        self._ssl = ssl_context
        self.notifier = notifier or Notifier()
        self.timeline = timeline or Timeline()
        self.conversation = Conversation(Settings.from_config(config))
        self.metrics = Metrics(time.monotonic())
        self.reporter = HealthReporter(self.metrics, config.health, notifier=self.notifier)
        self.audio: AudioPort | None = None
        self.controls: Any = None
        self.link: Link | None = None
        self.watchdog: Watchdog | None = None
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.control: ControlServer | None = None
        self.exit_code = EXIT_OK
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = asyncio.Event()
        self._queue: deque[Event] = deque()
        self._busy = False
        self._deadline: asyncio.TimerHandle | None = None
        self._mic_mode = "preroll"
        self._handsfree = False
        # capture end time of live microphone audio, by the identity of its bytes object,
        # until its append reaches the socket (pre-roll and held audio are not timed)
        self._capture_ends: dict[int, float] = {}
        self._delta_item: str | None = None  # the answer item whose audio is arriving
        self._tasks: list[asyncio.Task[Any]] = []
        self._link_up = False
        self._last_held_turn: object = None
        self._reload_lock = asyncio.Lock()
        self._reload_asked = 0
        self._last_reload: ReloadResult | None = None
        self._reload_tasks: set[asyncio.Task[ReloadResult]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, install_signals: bool = True) -> int:
        loop = asyncio.get_running_loop()
        self._loop = loop
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        try:
            return await self._run(loop)
        finally:
            if install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)

    async def _run(self, loop: asyncio.AbstractEventLoop) -> int:
        self.notifier.status("starting")
        self.audio = self._audio_factory(self.config, loop, self)
        await self.audio.start()
        if not self._start_controls(loop):
            await self.audio.stop()
            return self.exit_code
        self.link = Link(
            self.config, self._key_source, self._on_server_event, self._on_link_status,
            is_idle=self.is_idle, ssl_context=self._ssl, on_sent=self._on_sent,
        )
        self._dispatch_actions(self.conversation.start(loop.time()))
        self.control = await start_control(self.config.control, self)
        self._tasks.append(asyncio.create_task(self.link.run(), name="link"))
        self._tasks.append(asyncio.create_task(self.reporter.run(), name="health"))
        self._tasks.append(asyncio.create_task(self._sync_audio_counters(), name="xruns"))
        self.watchdog = Watchdog.from_env(self.notifier)
        if self.watchdog is not None:
            # the engine in use now: a reload may have replaced the one started above
            self.watchdog.add_probe("audio callbacks", max(2.0, self.config.audio.stall_timeout_s),
                                    self._audio_last_callback)
            self._tasks.append(asyncio.create_task(self.watchdog.run(), name="watchdog"))
        self.metrics.set_state("idle")
        self.notifier.ready("ready · link connecting")
        log.info("edged ready (%s)", self.config.summary(),
                 extra={"fields": {"kind": "lifecycle", "event": "ready"}})
        self.timeline.add(loop.time(), "ready")
        await self._stopped.wait()
        await self._shutdown()
        return self.exit_code

    def _start_controls(self, loop: asyncio.AbstractEventLoop) -> bool:
        if not self.config.controls.enabled:
            return True
        from edged.buttons.gpio import Controls, ControlsUnavailable

        try:
            self.controls = Controls(self.config.controls, loop, self.button,
                                     pin_factory=self._pin_factory)
        except ControlsUnavailable as exc:
            if self.config.controls.required:
                log.critical("%s", exc, extra={"fields": {"kind": "controls", "controls":
                                                           "unavailable"}})
                self.exit_code = EXIT_CONFIG
                return False
            log.warning("%s; running without buttons (controls.required is false)", exc,
                        extra={"fields": {"kind": "controls", "controls": "unavailable"}})
        return True

    def _read_key(self) -> str:
        """The key, read afresh at every connect so a reload can bring a new one."""
        from edged.realtime.credentials import load_key
        from edged.redact import register_secret

        key = load_key(self.config.credentials).reveal()
        register_secret(key)  # masked in every log, status and event from now on
        return key

    def _audio_last_callback(self) -> float | None:
        return self.audio.last_callback() if self.audio is not None else None

    def stop(self) -> None:
        """Begin a clean shutdown (SIGTERM, SIGINT, or a caller)."""
        self._stopped.set()

    async def _shutdown(self) -> None:
        self.notifier.stopping("stopping")
        log.info("edged stopping", extra={"fields": {"kind": "lifecycle", "event": "stopping"}})
        await self._finish_reloads()
        if self.control is not None:
            await self.control.close()
            self.control = None
        if self._deadline is not None:
            self._deadline.cancel()
        if self.link is not None:
            self.link.close()
        for task in self._tasks:
            if task.get_name() != "link":
                task.cancel()
        link_tasks = [t for t in self._tasks if t.get_name() == "link"]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*link_tasks, return_exceptions=True), 1.5)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.controls is not None:
            self.controls.close()
        if self.audio is not None:
            await self.audio.stop()

    # ------------------------------------------------------------------ reload

    def request_reload(self) -> None:
        """SIGHUP: reload in the background; a burst of signals makes one more reload."""
        if self._loop is None or self._stopped.is_set():
            return
        task = self._loop.create_task(self.reload(), name="reload")
        self._reload_tasks.add(task)
        task.add_done_callback(self._reload_tasks.discard)

    async def reload(self) -> ReloadResult:
        """Re-read the config and apply only what changed; a refused file keeps the old one.

        Reloads never overlap: one asked for while another runs waits for it, and all
        that waited are then answered by a single reload that reads the file after
        every one of them was asked for (the journal says how many were coalesced).
        """
        self._reload_asked += 1
        async with self._reload_lock:
            if self._reload_asked == 0 and self._last_reload is not None:
                return self._last_reload  # a reload that began after this request covered it
            coalesced, self._reload_asked = self._reload_asked - 1, 0
            if self._stopped.is_set():
                return ReloadResult(False, problems=("edged is stopping",))
            result = await self._reload_once(coalesced)
            self._last_reload = result
            return result

    async def _reload_once(self, coalesced: int) -> ReloadResult:
        self.notifier.reloading()
        path = self.config_path or config_mod.default_path()
        more = (f" ({coalesced} more request{'s' if coalesced > 1 else ''} coalesced into "
                "this one)" if coalesced else "")
        try:
            try:
                new = config_mod.load(path)
            except config_mod.ConfigError as exc:
                for problem in exc.problems:
                    log.error("reload refused: %s", problem,
                              extra={"fields": {"kind": "reload", "reload": "refused"}})
                log.error("reload refused%s: %d problem(s); still running on the previous "
                          "config", more, len(exc.problems),
                          extra={"fields": {"kind": "reload", "reload": "refused",
                                            "coalesced": coalesced}})
                return ReloadResult(False, problems=tuple(str(p) for p in exc.problems),
                                    coalesced=coalesced)
            old, self.config = self.config, new
            changed = tuple(config_mod.changed_keys(old, new))
            try:
                await self._apply(old, new)
            except Exception as exc:  # a bug must not kill the daemon nor hide the reload
                log.exception("reload of %s failed part-way", path,
                              extra={"fields": {"kind": "reload", "reload": "failed"}})
                return ReloadResult(False, changed, (f"applying it failed: {exc}",), coalesced)
            log.info("reloaded %s%s: %s", path, more, ", ".join(changed) or "nothing changed",
                     extra={"fields": {"kind": "reload", "reload": "applied",
                                       "changed": ",".join(changed), "coalesced": coalesced}})
            return ReloadResult(True, changed, (), coalesced)
        finally:
            self.notifier.ready()

    async def _apply(self, old: Config, new: Config) -> None:
        assert self._loop is not None
        self.reporter.reconfigure(new.health)
        self.conversation.settings = Settings.from_config(new)
        if self.link is not None:
            ort, nrt = old.realtime, new.realtime
            endpoint_fields = ("provider", "model", "deployment", "azure_resource",
                               "api_version", "url", "dialect", "auth_header")
            if (any(getattr(ort, f) != getattr(nrt, f) for f in endpoint_fields)
                    or old.link != new.link or old.credentials != new.credentials):
                self.link.reconnect("configuration reloaded", new)
            elif ort != nrt:
                self.link.set_session(rt.session_from_config(nrt, handsfree=self._handsfree))
            self.link.credentials_changed()  # a new key file may be in place
        if old.audio != new.audio and self.audio is not None:
            await self._apply_audio(new)
        if old.control != new.control:
            if self.control is not None:
                await self.control.close()
            self.control = await start_control(new.control, self)
        if old.controls != new.controls:
            if self.controls is not None:
                self.controls.close()
                self.controls = None
            if not self._start_controls(self._loop):
                log.error("controls unavailable after reload; running without buttons")
                self.exit_code = EXIT_OK

    async def _apply_audio(self, new: Config) -> None:
        """In place when no device must reopen; otherwise the old engine is stopped (and
        PortAudio terminated) before the new one starts: never two at once."""
        assert self._loop is not None and self.audio is not None
        if self.audio.reconfigure(new):
            return
        old_audio = self.audio
        await old_audio.stop()
        self.audio = self._audio_factory(new, self._loop, self)
        await self.audio.start()
        self.audio.set_mic(self._mic_mode)

    async def _finish_reloads(self) -> None:
        """At shutdown: let a reload in progress finish (bounded); waiting ones give up."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_RELOAD_WAIT_S), self._reload_lock:
                pass
        for task in list(self._reload_tasks):
            task.cancel()
        await asyncio.gather(*self._reload_tasks, return_exceptions=True)

    # ------------------------------------------------------------------ inputs

    def button(self, event: Event) -> None:
        """A button or local-control event, on the loop thread."""
        # The pre-roll reaches the machine as the first MicAudio once it streams the mic.
        if isinstance(event, PttUp) and self._mic_mode == "stream" and self.audio is not None:
            self.audio.flush_capture()  # the utterance's tail goes out before the commit
        self.timeline.add(self._now(), "press" if isinstance(event, PttDown) else
                          type(event).__name__)
        self.handle(event)

    def on_frames(self, pcm: bytes, capture_end: float) -> None:
        """Microphone audio from the engine (24 kHz mono PCM16), on the loop thread;
        ``capture_end``: when its last sample was captured (monotonic s)."""
        if self._mic_mode != "stream":
            return
        if len(self._capture_ends) > 64:  # frames the machine held rather than sent
            self._capture_ends.clear()
        self._capture_ends[id(pcm)] = capture_end
        self.handle(MicAudio(pcm))

    def on_playback_idle(self) -> None:
        self.handle(PlaybackIdle())

    def on_audio_status(self, device: str, status: str, detail: str = "") -> None:
        self.metrics.set_device(device, status)
        level = logging.WARNING if status in ("lost", "missing", "error") else logging.INFO
        log.log(level, "audio %s: %s%s", device, status, f" ({detail})" if detail else "",
                extra={"fields": {"kind": "audio", "device": device, "audio": status}})
        if status in ("lost", "missing", "error"):
            self.metrics.fail("audio", f"{device} {status}", self._now())
        self._emit("audio", {"device": device, "status": status})

    async def _sync_audio_counters(self) -> None:
        """Copy the engine's xrun counters into the health metrics, every few seconds."""
        while True:
            if self.audio is not None:
                self.metrics.input_overflows, self.metrics.output_underflows = self.audio.xruns()
            await asyncio.sleep(AUDIO_COUNTERS_S)

    def is_idle(self) -> bool:
        return self.conversation.phase.value in ("idle", "muted")

    # ------------------------------------------------------------------ the machine

    def _now(self) -> float:
        return self._loop.time() if self._loop is not None else time.monotonic()

    def handle(self, event: Event) -> None:
        """Feed one event to the machine; re-entrant calls are queued, not nested."""
        self._queue.append(event)
        if self._busy:
            return
        self._busy = True
        try:
            while self._queue:
                ev = self._queue.popleft()
                self._dispatch_actions(self.conversation.handle(ev, self._now()))
        finally:
            self._busy = False
        self._schedule_deadline()

    def _schedule_deadline(self) -> None:
        if self._loop is None:
            return
        due = self.conversation.next_deadline()
        if self._deadline is not None:
            if due is not None and abs(self._deadline.when() - due) < 1e-3:
                return
            self._deadline.cancel()
            self._deadline = None
        if due is not None:
            self._deadline = self._loop.call_at(due, self._on_deadline)

    def _on_deadline(self) -> None:
        self._deadline = None
        self.handle(Tick())

    def _dispatch_actions(self, actions: list[Action]) -> None:
        for action in actions:
            try:
                self._do(action)
            except Exception:  # one failing action must not lose the ones after it
                log.exception("action %s failed", type(action).__name__)

    def _do(self, action: Action) -> None:
        link, audio = self.link, self.audio
        if isinstance(action, SendAppend):
            if link is not None and not link.send(rt.InputAudioAppend(action.pcm)):
                self._capture_ends.pop(id(action.pcm), None)
            return
        if isinstance(action, PlayAnswer):
            if audio is not None:
                at = audio.play(action.item_id, action.pcm)
                if action.item_id != self._delta_item:  # its first delta: time it
                    self._delta_item = action.item_id
                    now = self._now()
                    self.metrics.downlink.record(max(0.0, (at - now) * 1000.0))
                    self.timeline.add(now, "answer_audio", item=action.item_id,
                                      scheduled_ms=round((at - now) * 1000.0, 2))
            return
        if isinstance(action, SendClear | SendCommit | SendResponseCreate | SendResponseCancel
                      | SendTruncate | SendText):
            self._send(action)
        elif isinstance(action, SetHandsFree):
            self._handsfree = action.on
            if link is not None:
                link.set_session(rt.session_from_config(self.config.realtime,
                                                        handsfree=action.on))
        elif isinstance(action, EndAnswer):
            if audio is not None:
                audio.end_of_answer(action.item_id)
        elif isinstance(action, FlushPlayback):
            played = audio.flush() if audio is not None else {}
            self.timeline.add(self._now(), "flushed", played=played)
            self.handle(PlaybackFlushed(played))
        elif isinstance(action, PlaySound):
            if audio is not None and self.config.audio.sounds:
                audio.sound(action.sound)
        elif isinstance(action, SetLed):
            if self.controls is not None:
                self.controls.set_led(action.pattern)
        elif isinstance(action, SetMic):
            self._set_mic(action.mode)
        elif isinstance(action, Notice):
            self._notice(action)

    def _set_mic(self, mode: str) -> None:
        self._mic_mode = mode
        if self.audio is not None:
            self.audio.set_mic(mode)

    def _send(self, action: Action) -> None:
        if self.link is None:
            return
        event: rt.ClientEvent
        if isinstance(action, SendClear):
            event = rt.InputAudioClear()
        elif isinstance(action, SendCommit):
            event = rt.InputAudioCommit()
        elif isinstance(action, SendResponseCreate):
            event = rt.ResponseCreate()
        elif isinstance(action, SendResponseCancel):
            event = rt.ResponseCancel()
        elif isinstance(action, SendTruncate):
            event = rt.ItemTruncate(action.item_id, 0, action.audio_end_ms)
        elif isinstance(action, SendText):
            event = rt.ItemCreateText(action.text)
        else:  # pragma: no cover - the caller only passes the types above
            return
        if not self.link.send(event):
            log.debug("not sent (link down): %s", type(event).__name__)
        extra = {"audio_end_ms": action.audio_end_ms} if isinstance(action, SendTruncate) else {}
        self.timeline.add(self._now(), "sent", type=type(event).__name__, **extra)

    def _on_sent(self, event: rt.ClientEvent, at: float) -> None:
        if isinstance(event, rt.InputAudioAppend):
            end = self._capture_ends.pop(id(event.audio), None)
            if end is not None:
                # added latency: from the end of the batch's capture to its bytes on the socket
                self.metrics.uplink.record(max(0.0, (at - end) * 1000.0))

    def _notice(self, notice: Notice) -> None:
        kind, fields = notice.kind, notice.fields
        now = self._now()
        if kind == "transition":
            state = str(fields.get("to", ""))
            self.metrics.set_state(state)
            self.reporter.refresh_status()
        counters = {"answer_started": "answers", "barge_in": "barge_ins",
                    "utterance_held": "utterances_held",
                    "utterance_delivered": "utterances_delivered",
                    "utterance_dropped": "utterances_dropped"}
        if kind == "utterance_held":  # noticed again when a held turn is finished: count once
            turn = fields.get("turn")
            if turn == self._last_held_turn:
                kind_counts = False
            else:
                self._last_held_turn, kind_counts = turn, True
        else:
            kind_counts = kind in counters
        if kind_counts:
            name = counters[kind]
            setattr(self.metrics, name, getattr(self.metrics, name) + 1)
        warn = kind in ("utterance_dropped", "stuck_button", "cost_guard", "server_error",
                        "answer_failed", "playback_stalled", "no_answer")
        text = " ".join(f"{k}={v}" for k, v in fields.items())
        log.log(logging.WARNING if warn else logging.INFO, "%s %s", kind, text,
                extra={"fields": {"kind": kind, **{k: v for k, v in fields.items()
                                                    if v is not None}}})
        if warn:
            self.metrics.fail(kind, f"{kind} {text}".strip(), now)
        self.timeline.add(now, kind, **fields)
        self._emit(kind, dict(fields))

    def _emit(self, kind: str, fields: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(kind, fields)
            except Exception:
                log.exception("event listener failed")

    # ------------------------------------------------------------------ the link

    def _on_link_status(self, status: LinkStatus) -> None:
        now = self._now()
        self.metrics.set_link(status.state.value, time.monotonic())
        up = status.up
        if up != self._link_up:
            self._link_up = up
            self._capture_ends.clear()
            self.timeline.add(now, "link_up" if up else "link_down")
            self.handle(LinkUp() if up else LinkDown(status.last_error or ""))
        if not up and status.last_error:
            self.metrics.last_error = status.last_error
        level = logging.CRITICAL if status.critical else logging.INFO
        log.log(level, "realtime link %s%s", status.state.value,
                f" ({status.last_error})" if status.last_error and not up else "",
                extra={"fields": {"kind": "link", "link": status.state.value}})
        self._emit("link", {"state": status.state.value,
                            "retry_in_s": status.retry_in_s, "error": status.last_error})
        self.reporter.refresh_status()

    def _on_server_event(self, event: rt.ServerEvent) -> None:
        ev: Event | None = None
        if isinstance(event, rt.AudioDelta):
            ev = AnswerAudio(event.response_id, event.item_id, event.pcm)
        elif isinstance(event, rt.SpeechStarted):
            ev = SpeechStarted()
        elif isinstance(event, rt.SpeechStopped):
            ev = SpeechStopped()
        elif isinstance(event, rt.AudioCommitted):
            ev = Committed()
        elif isinstance(event, rt.ResponseCreated):
            self.timeline.add(self._now(), "response_created", id=event.response_id)
            ev = ResponseStarted(event.response_id)
        elif isinstance(event, rt.AudioDone):
            ev = AnswerAudioDone(event.response_id, event.item_id)
        elif isinstance(event, rt.ResponseDone):
            self.timeline.add(self._now(), "response_done", status=event.status)
            ev = ResponseDone(event.response_id, event.status, event.reason)
        elif isinstance(event, rt.ErrorEvent):
            ev = ServerError(event.code, event.message)
        elif isinstance(event, rt.InputTranscriptCompleted):
            log.info("heard: %s", event.transcript,
                     extra={"fields": {"kind": "transcript", "role": "user"}})
        elif isinstance(event, rt.TranscriptDone):
            log.info("answered: %s", event.transcript,
                     extra={"fields": {"kind": "transcript", "role": "assistant"}})
        if ev is not None:
            self.handle(ev)
