"""The daemon's lifecycle: start, reload, stop, and the one event queue in between.

The conversation machine decides; :mod:`~edged.daemon.translate` maps its
vocabulary to the wire protocol's; :mod:`~edged.daemon.observe` records what
happens; this module owns the loop-side state (engines, link, control socket),
feeds the machine one event at a time and carries out its actions. PortAudio
and gpiozero threads only hand data to this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edged import config as config_mod
from edged.audio.port import AudioCallbacks
from edged.config import Config
from edged.control.server import ControlServer, start_control
from edged.conversation import (
    STREAMING,
    Action,
    ConfirmTool,
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
    Ring,
    RunTool,
    SendAppend,
    SetHandsFree,
    SetLed,
    SetMic,
    Settings,
    Tick,
)
from edged.daemon import translate
from edged.daemon.observe import Observer, Timeline
from edged.daemon.ports import AudioFactory, AudioPort, ButtonsPort
from edged.health import fingerprint
from edged.health.metrics import Metrics
from edged.health.notify import Notifier, Watchdog
from edged.health.reporter import HealthReporter
from edged.realtime import events as rt
from edged.realtime.link import Link, LinkStatus
from edged.realtime.mcp import McpSetup, load_servers

if TYPE_CHECKING:
    from edged.daemon.tools import ToolShell
    from edged.daemon.wakeword import WakeWordShell

log = logging.getLogger("edged")

EXIT_OK = 0
EXIT_CONFIG = 2  # a condition the owner must fix (config, GPIO, devices)
AUDIO_COUNTERS_S = 5.0
SHUTDOWN_RELOAD_WAIT_S = 1.0
IDLE_POLL_S = 0.1
"""How often a change waiting for an idle conversation looks again."""
SHUTDOWN_LINK_WAIT_S = 1.0
"""How long the server gets to answer our close before the socket is simply cut: with
the control server's own half second, a stop stays under 2 s."""
HEAP_TRIM_AFTER_S = 2.0  # after the link first came up: the session is set up by then


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did: ``changed`` dotted keys, or the ``problems`` that refused it;
    ``warnings``: what an applied reload could not bring into use (a pin the board lacks)."""

    applied: bool
    changed: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    coalesced: int = 0
    warnings: tuple[str, ...] = ()


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
        # which edged and which file: what a rollout is checked by (see fingerprint)
        self.metrics.version = fingerprint.VERSION
        self.metrics.config_sha256 = (fingerprint.applied_digest(config_path, config)
                                      if config_path else None)
        self.reporter = HealthReporter(self.metrics, config.health, notifier=self.notifier,
                                       figures=self._health_figures)
        self.observer = Observer(self.metrics, self.reporter, self.timeline)
        self.observer.log_transcripts = config.conversation.log_transcripts
        #: Event listeners (the control socket's subscribers): ``(kind, fields)``.
        self.listeners = self.observer.listeners
        self._audio_callbacks = AudioCallbacks(self.on_frames, self.on_audio_status,
                                               self.on_playback_idle)
        self.audio: AudioPort | None = None
        self.controls: ButtonsPort | None = None
        self.link: Link | None = None
        self.watchdog: Watchdog | None = None
        self.control: ControlServer | None = None
        self.tools: ToolShell | None = None  # None: tools.enabled is false
        self.wake: WakeWordShell | None = None  # None: wake_word.enabled is false
        self._mcp = McpSetup()  # realtime.mcp_servers as the session offers them
        self._mcp_approvals = translate.McpApprovals()
        self.exit_code = EXIT_OK
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = asyncio.Event()
        self._queue: deque[Event] = deque()
        self._busy = False
        self._deadline: asyncio.TimerHandle | None = None
        self._event_ids = itertools.count(1)
        self._tasks: list[asyncio.Task[Any]] = []
        self._reload_lock = asyncio.Lock()
        self._reload_asked = 0
        self._last_reload: ReloadResult | None = None
        self._reload_tasks: set[asyncio.Task[ReloadResult]] = set()
        self._held: list[Event] | None = None  # button events behind a release (button())
        self._settled: asyncio.Future[None] | None = None  # resolved as a hold ends
        self.heap_trimmed = False  # start-up's freed heap handed back, once (_trim_heap)
        self._audio_reopen: asyncio.Task[None] | None = None  # waiting for an idle moment

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
        self.audio = self._audio_factory(self.config, loop, self._audio_callbacks)
        await self.audio.start()
        self._start_controls(loop)
        if self.exit_code == EXIT_CONFIG:  # required buttons are unavailable
            await self.audio.stop()
            return self.exit_code
        problem = await self._start_wake_word()
        if problem:  # enabled and unusable: a speaker that cannot hear its word must say so
            log.error("%s", problem, extra={"fields": {"kind": "lifecycle",
                                                       "event": "wake_word_unavailable"}})
            if self.controls is not None:
                self.controls.close()
            await self.audio.stop()
            self.exit_code = EXIT_CONFIG
            return self.exit_code
        self._start_tools(loop)
        self._load_mcp()
        self.link = Link(
            self.config, self._key_source, self._on_server_event, self._on_link_status,
            is_idle=lambda: self.conversation.idle, ssl_context=self._ssl, on_sent=self._on_sent,
            session=self._session(handsfree=False),
        )
        self._dispatch_actions(self.conversation.start(loop.time()))
        self.control = await start_control(self.config.control, self)
        self._tasks.append(asyncio.create_task(self.link.run(), name="link"))
        self._tasks.append(asyncio.create_task(self.reporter.run(), name="health"))
        self._tasks.append(asyncio.create_task(self._sync_audio_counters(), name="xruns"))
        self.watchdog = Watchdog.from_env(self.notifier)
        if self.watchdog is not None:
            # the engine in use now: a reload may have replaced the one started above
            self.watchdog.add_probe("audio callbacks", self._audio_stall_limit,
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

    def _start_controls(self, loop: asyncio.AbstractEventLoop, *, reload: bool = False) -> str:
        """Buttons and LED: "" when they are up or off, else why not. At start a required
        set that is unavailable stops the daemon (``exit_code``); after a reload it runs
        on without them whatever ``required`` says: stopping a running speaker over a
        pin typo would be worse."""
        if not self.config.controls.enabled:
            return ""
        from edged.buttons.gpio import Controls, ControlsUnavailable

        try:
            self.controls = Controls(self.config.controls, loop, self.button,
                                     pin_factory=self._pin_factory)
        except ControlsUnavailable as exc:
            if reload:
                why = f"{exc}; running without buttons until a reload fixes it"
                log.error("%s", why, extra={"fields": {"kind": "controls",
                                                       "controls": "unavailable"}})
                return why
            if self.config.controls.required:
                log.critical("%s", exc, extra={"fields": {"kind": "controls", "controls":
                                                           "unavailable"}})
                self.exit_code = EXIT_CONFIG
                return str(exc)
            log.warning("%s; running without buttons (controls.required is false)", exc,
                        extra={"fields": {"kind": "controls", "controls": "unavailable"}})
        return ""

    def _start_tools(self, loop: asyncio.AbstractEventLoop) -> None:
        """Timers, the spoken volume and the model's tools; none at all, not even their
        code, when tools.enabled is false (what the benchmark's baseline measures)."""
        if not self.config.tools.enabled:
            return
        from edged.daemon.tools import ToolShell

        self.tools = ToolShell(self.config, loop, feed=self.handle, audio=lambda: self.audio,
                               state=lambda: self.conversation.state, observer=self.observer)
        self.tools.start()

    async def _start_wake_word(self) -> str:
        """The wake word's detector and its tap on the microphone: "" when it runs or is
        off, else why not (the model's or the package's problem, naming the key)."""
        if not self.config.wake_word.enabled:
            return ""
        from edged.daemon.wakeword import WakeWordShell
        from edged.wakeword.models import ModelError

        assert self._loop is not None
        shell = WakeWordShell(self.config.wake_word, self._loop, feed=self.handle,
                              observe=lambda n: self.observer.notice(n, self._now()))
        try:
            await shell.start(self.audio)
        except ModelError as exc:
            return f"wake_word.model: {exc}"
        self.wake = shell
        return ""

    def wake_word_status(self) -> dict[str, Any]:
        if self.wake is not None:
            return self.wake.status()
        return {"enabled": self.config.wake_word.enabled, "listening": False}

    async def _reload_wake_word(self, old: Config, new: Config) -> str:
        """Any change restarts it; an unchanged config retries one that could not start
        (the package or the model file may be there by now)."""
        if old.wake_word == new.wake_word and (self.wake is not None
                                               or not new.wake_word.enabled):
            return ""
        if self.wake is not None:
            await self.wake.close()
            self.wake = None
        problem = await self._start_wake_word()
        if problem:
            log.warning("the wake word is off until the config is fixed: %s", problem,
                        extra={"fields": {"kind": "reload", "wake_word": "unavailable"}})
        return problem

    async def _reload_tools(self, old: Config, new: Config) -> bool:
        """True if the tools offered to the model changed. Switched on or off, or moved
        to another state directory: the subsystem stops and starts again from there."""
        assert self._loop is not None
        if (old.tools.enabled, old.tools.state_dir) == (new.tools.enabled,
                                                        new.tools.state_dir):
            return self.tools.reconfigure(new) if self.tools is not None else False
        if self.tools is not None:  # what is set stays in its file
            await self.tools.close()
            self.tools = None
            if self.audio is not None:
                self.audio.set_volume(1.0)
        self._start_tools(self._loop)
        return True

    def _session(self, *, handsfree: bool) -> rt.Session:
        """The session for the config in force, with the tools it switches on."""
        tools = self.tools.specs() if self.tools is not None else ()
        return rt.session_from_config(self.config.realtime, handsfree=handsfree, tools=tools,
                                      mcp=self._mcp.servers)

    def _load_mcp(self) -> bool:
        """realtime.mcp_servers with their tokens read now; True if the offer changed."""
        old, self._mcp = self._mcp, load_servers(self.config.realtime)
        self.observer.mcp_setup(self._mcp)
        return self._mcp != old

    def _answer_mcp(self, request: rt.McpApprovalRequest) -> None:
        """An MCP server asks to run a tool: answered from the config, once per request."""
        n = next(self._event_ids)
        answer = self._mcp_approvals.answer(request, self.config.realtime.mcp_servers,
                                            f"edged_mcpa_{n}", f"edged_{n}")
        if answer is not None:
            sent = self.link is not None and self.link.send(answer)
            self.observer.mcp_approval(request, answer, sent, self._now())
        if request.response_id:  # the copy that names its response joins the tool round
            self.handle(translate.mcp_approval_event(request, self.config.realtime.mcp_servers))

    def _health_figures(self) -> dict[str, Any]:
        """The health record's figures that the tools hold (none when they are off)."""
        return {"timers_pending": len(self.tools.timers)} if self.tools is not None else {}

    def _read_key(self) -> str:
        """The key, read afresh at every connect so a reload can bring a new one."""
        from edged.realtime.credentials import load_key
        from edged.redact import register_secret

        key = load_key(self.config.credentials).reveal()
        register_secret(key)  # masked in every log, status and event from now on
        return key

    def _audio_stall_limit(self) -> float:
        """audio.stall_timeout_s as it is now (a reload may change it), at least 2 s."""
        return max(2.0, self.config.audio.stall_timeout_s)

    def _audio_last_callback(self) -> float | None:
        return self.audio.last_callback() if self.audio is not None else None

    def stop(self) -> None:
        """Begin a clean shutdown (SIGTERM, SIGINT, or a caller)."""
        self._stopped.set()

    async def _shutdown(self) -> None:
        self.notifier.stopping("stopping")
        log.info("edged stopping", extra={"fields": {"kind": "lifecycle", "event": "stopping"}})
        await self._finish_reloads()
        if self._audio_reopen is not None:
            self._audio_reopen.cancel()
            await asyncio.gather(self._audio_reopen, return_exceptions=True)
        loop = asyncio.get_running_loop()
        link_by = loop.time() + SHUTDOWN_LINK_WAIT_S
        if self.link is not None:
            self.link.close()  # its close handshake runs while the rest stops
        if self.control is not None:
            await self.control.close()
            self.control = None
        if self._deadline is not None:
            self._deadline.cancel()
        for task in self._tasks:
            if task.get_name() != "link":
                task.cancel()
        link_tasks = [t for t in self._tasks if t.get_name() == "link"]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*link_tasks, return_exceptions=True),
                                   max(0.0, link_by - loop.time()))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.controls is not None:
            self.controls.close()
        if self.tools is not None:
            await self.tools.close()
        if self.wake is not None:
            await self.wake.close()
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
                new, digest = fingerprint.load(path)
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
            self.metrics.config_sha256 = digest
            changed = tuple(config_mod.changed_keys(old, new))
            try:
                warnings = await self._apply(old, new)
            except Exception as exc:  # a bug must not kill the daemon nor hide the reload
                log.exception("reload of %s failed part-way", path,
                              extra={"fields": {"kind": "reload", "reload": "failed"}})
                return ReloadResult(False, changed, (f"applying it failed: {exc}",), coalesced)
            log.info("reloaded %s%s: %s", path, more, ", ".join(changed) or "nothing changed",
                     extra={"fields": {"kind": "reload", "reload": "applied",
                                       "changed": ",".join(changed), "coalesced": coalesced}})
            return ReloadResult(True, changed, (), coalesced, warnings)
        finally:
            self.notifier.ready()

    async def _apply(self, old: Config, new: Config) -> tuple[str, ...]:
        assert self._loop is not None
        self.reporter.reconfigure(new.health)
        self.conversation.settings = Settings.from_config(new)
        self.observer.log_transcripts = new.conversation.log_transcripts
        tools_changed = await self._reload_tools(old, new)
        tools_changed = self._load_mcp() or tools_changed
        if self.link is not None:
            ort, nrt = old.realtime, new.realtime
            endpoint_fields = ("provider", "model", "deployment", "azure_resource",
                               "api_version", "url", "dialect", "auth_header")
            if (any(getattr(ort, f) != getattr(nrt, f) for f in endpoint_fields)
                    or old.link != new.link or old.credentials != new.credentials):
                self.link.reconnect("configuration reloaded", new, self._session(
                    handsfree=self.conversation.state.handsfree))
            elif ort != nrt or tools_changed:
                self.link.set_session(self._session(handsfree=self.conversation.state.handsfree))
            self.link.credentials_changed()  # a new key file may be in place
            self.link.config_changed()  # a missing deployment may exist by now
        if old.audio != new.audio and self.audio is not None:
            await self._apply_audio(new)
        unusable = await self._reload_wake_word(old, new)
        if old.control != new.control:
            if self.control is not None:
                await self.control.close()
            self.control = await start_control(new.control, self)
        if old.controls != new.controls:
            if self.controls is not None:
                self.controls.close()
                self.controls = None
            unavailable = self._start_controls(self._loop, reload=True)
            self._restore_led()
            if unavailable:
                return (unavailable, unusable) if unusable else (unavailable,)
        return (unusable,) if unusable else ()

    def _restore_led(self) -> None:
        """New buttons and LED show what the old LED showed."""
        led = self.conversation.state.led
        if self.controls is not None and led is not None:
            self.controls.set_led(led)

    async def _apply_audio(self, new: Config) -> None:
        """In place when no device must reopen. A reopen waits until the conversation is
        idle: reopening drops what the speaker has queued and what the microphone has
        not handed over, so it must not land in an answer or an utterance."""
        assert self._loop is not None and self.audio is not None
        if self.audio.reconfigure(new):
            return
        if self.conversation.idle:
            await self._reopen_audio()
            return
        log.info("audio: the devices reopen with the new settings once the conversation "
                 "is idle", extra={"fields": {"kind": "audio", "audio": "reopen_pending"}})
        if self._audio_reopen is None or self._audio_reopen.done():
            self._audio_reopen = self._loop.create_task(self._reopen_when_idle(),
                                                        name="audio-reopen")

    async def _reopen_when_idle(self) -> None:
        while not self.conversation.idle:
            await asyncio.sleep(IDLE_POLL_S)
        async with self._reload_lock:  # never beside a reload's own audio change
            assert self.audio is not None
            if self.audio.reconfigure(self.config):  # a later reload made it unnecessary
                return
            await self._reopen_audio()

    async def _reopen_audio(self) -> None:
        """The old engine is stopped (and PortAudio terminated) before the new one
        starts, with the config in force now: never two at once."""
        assert self._loop is not None and self.audio is not None
        await self.audio.stop()
        self.audio = self._audio_factory(self.config, self._loop, self._audio_callbacks)
        await self.audio.start()
        self.audio.set_mic(self.conversation.state.mic or "preroll")
        if self.wake is not None:
            self.wake.attach(self.audio)
        if self.tools is not None:
            self.tools.apply_volume()

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
        """A button or local-control event, on the loop thread.

        A push-to-talk release while the microphone streams waits for the
        microphone's period in flight (it holds the last syllable; at most one
        capture period), then the utterance's tail goes out before the commit.
        Events that come meanwhile wait behind it, in order.
        """
        if self._held is not None:
            self._held.append(event)
            return
        self.timeline.add(self._now(), "press" if isinstance(event, PttDown) else
                          type(event).__name__)
        if (isinstance(event, PttUp) and self.conversation.state.mic in STREAMING
                and self.audio is not None):
            self._held = [event]
            self.audio.after_capture(self._release)
            return
        self.handle(event)

    async def settled(self) -> None:
        """Until the button events fed so far are handled (see :meth:`button`)."""
        while self._held is not None:
            if self._settled is None:
                self._settled = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._settled)

    def _release(self) -> None:
        held, self._held = self._held or [], None
        done, self._settled = self._settled, None
        if done is not None and not done.done():
            done.set_result(None)
        if held and self.audio is not None and self.conversation.state.mic in STREAMING:
            self.audio.flush_capture()
        for i, event in enumerate(held):
            if i == 0:
                self.handle(event)
            else:
                self.button(event)

    def on_frames(self, pcm: bytes, capture_end: float) -> None:
        """Microphone audio from the engine (24 kHz mono PCM16), on the loop thread;
        ``capture_end``: when its last sample was captured (monotonic s)."""
        if self.conversation.state.mic in STREAMING:
            self.handle(MicAudio(pcm, capture_end))

    def on_playback_idle(self) -> None:
        self.handle(PlaybackIdle())

    def on_audio_status(self, device: str, status: str, detail: str = "") -> None:
        self.observer.audio_status(device, status, detail, self._now())

    async def _sync_audio_counters(self) -> None:
        """Copy the engine's xrun counters into the health metrics, every few seconds."""
        while True:
            if self.audio is not None:
                self.metrics.input_overflows, self.metrics.output_underflows = self.audio.xruns()
            await asyncio.sleep(AUDIO_COUNTERS_S)

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

    def _do(self, action: Action) -> None:  # noqa: PLR0912 - one branch per action type
        audio = self.audio
        if isinstance(action, PlayAnswer):
            if audio is not None:
                at = audio.play(action.item_id, action.pcm)
                self.observer.answer_queued(action.item_id, at, self._now())
                if self.wake is not None:
                    self.wake.played(at, action.pcm)
        elif isinstance(action, SetHandsFree):
            if self.link is not None:
                self.link.set_session(self._session(handsfree=action.on))
        elif isinstance(action, RunTool):
            if self.tools is not None:
                self.tools.run(action.call_id, action.name, action.arguments)
        elif isinstance(action, Ring):
            if self.tools is not None:
                self.tools.ring(action.on)
        elif isinstance(action, ConfirmTool):
            if self.tools is not None:
                self.tools.confirmed(action.tool, action.ok)
        elif isinstance(action, EndAnswer):
            if audio is not None:
                audio.end_of_answer(action.item_id)
        elif isinstance(action, FlushPlayback):
            played = audio.flush() if audio is not None else {}
            if self.wake is not None:
                self.wake.flushed()
            self.timeline.add(self._now(), "flushed", played=played)
            self.handle(PlaybackFlushed(played))
        elif isinstance(action, PlaySound):
            if audio is not None and self.config.audio.sounds:
                audio.sound(action.sound)
        elif isinstance(action, SetLed):
            if self.controls is not None:
                self.controls.set_led(action.pattern)
        elif isinstance(action, SetMic):
            if audio is not None:
                audio.set_mic(action.mode)
        elif isinstance(action, Notice):
            self.observer.notice(action, self._now())
        else:
            self._send(action)

    def _send(self, action: Action) -> None:
        """A send action onto the link. Every client event carries an id, so a server
        error can name it (a request's id is the machine's) and the meter can time appends."""
        captured_at = action.captured_at if isinstance(action, SendAppend) else None
        event_id = f"edged_{next(self._event_ids)}"
        event = translate.client_event(action, event_id)
        if event is None or self.link is None:
            return
        if captured_at is not None:
            self.observer.append_queued(event_id, captured_at)
        if not self.link.send(event):
            if captured_at is not None:
                self.observer.append_dropped(event_id)
            log.debug("not sent (link down): %s", type(event).__name__)
        if isinstance(event, rt.InputAudioAppend):
            return  # fifty a second while someone talks: not timeline material
        extra = {"audio_end_ms": event.audio_end_ms} if isinstance(event, rt.ItemTruncate) else {}
        self.timeline.add(self._now(), "sent", type=type(event).__name__, **extra)

    def _on_sent(self, event: rt.ClientEvent, at: float) -> None:
        self.observer.sent(event, at)

    # ------------------------------------------------------------------ the link

    def _on_link_status(self, status: LinkStatus) -> None:
        now = self._now()
        up = status.up
        changed = up != self.conversation.state.link_up
        self.observer.link_state(status, time.monotonic())
        if changed:
            self.observer.link_changed(up, now)
            self.handle(LinkUp() if up else LinkDown(status.last_error or ""))
            if up and not self.heap_trimmed and self._loop is not None:
                self._loop.call_later(HEAP_TRIM_AFTER_S, self._trim_heap)
        self.observer.link_report(status)

    def _trim_heap(self) -> None:
        """Start-up is over (devices open, link up): give its freed heap back, once."""
        from edged.health import heap

        if not self.heap_trimmed:
            heap.trim()  # once, given back or not (no glibc): never tried again
            self.heap_trimmed = True

    def _on_server_event(self, event: rt.ServerEvent) -> None:
        self.observer.server_event(event, self._now())
        if isinstance(event, rt.McpApprovalRequest):
            self._answer_mcp(event)
        ev = translate.machine_event(event)
        if ev is not None:
            self.handle(ev)
