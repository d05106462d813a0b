"""The gpiozero shell: the push-to-talk and wake buttons and the status LED.

gpiozero calls button callbacks in a thread of its own (lgpio's on a Pi, the
caller's with mock pins). Those callbacks only stamp the time and hand the edge
to the event loop with ``call_soon_threadsafe``; debouncing, hold timing and
the events for the conversation happen on the loop, in ``edged.buttons.gestures``.

When GPIO cannot be used, building ``Controls`` raises one error,
``ControlsUnavailable``, whose message names the cause and the config key, so
the daemon can exit with status 2 or carry on without buttons.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from edged.buttons.gestures import ButtonEvent, ButtonLogic, Role
from edged.config import ControlsConfig
from edged.conversation.actions import LedPattern

T = TypeVar("T")

_WITHOUT = ("set controls.enabled: false to run without GPIO, or controls.required: false "
            "to carry on without buttons")


class ControlsUnavailable(Exception):
    """GPIO cannot be used. ``key``: the config key of the device that failed."""

    def __init__(self, key: str, cause: str) -> None:
        super().__init__(f"{key}: GPIO unavailable: {cause} ({_WITHOUT})")
        self.key = key
        self.cause = cause


# --------------------------------------------------------------------------- LED patterns


@dataclass(frozen=True, slots=True)
class LedPlan:
    """How a pattern is shown: steady, blinking (on/off seconds) or pulsing (fade seconds)."""

    kind: Literal["off", "on", "blink", "pulse"]
    on_s: float = 0.0
    off_s: float = 0.0


_PWM_PLANS: dict[LedPattern, LedPlan] = {
    "idle": LedPlan("off"),
    "listening": LedPlan("on"),
    "thinking": LedPlan("pulse", 0.25, 0.25),
    "speaking": LedPlan("pulse", 0.8, 0.8),
    "muted": LedPlan("blink", 0.2, 1.8),
    "error": LedPlan("blink", 0.08, 0.08),
    "tools": LedPlan("pulse", 0.1, 0.4),
    "ringing": LedPlan("blink", 0.5, 0.5),
    "confirm": LedPlan("blink", 0.15, 0.15),
}
_PLAIN_PLANS: dict[LedPattern, LedPlan] = {
    **_PWM_PLANS,
    "thinking": LedPlan("blink", 0.25, 0.25),
    "speaking": LedPlan("blink", 0.9, 0.3),
    "tools": LedPlan("blink", 0.1, 0.4),
}


def led_plan(pattern: LedPattern, pwm: bool) -> LedPlan:
    """A PWM LED pulses where a plain LED can only blink."""
    return (_PWM_PLANS if pwm else _PLAIN_PLANS)[pattern]


# --------------------------------------------------------------------------- errors


def _explain(exc: BaseException, pin: int,  # noqa: PLR0911 - one sentence per kind of failure
             fallbacks: list[str]) -> str:
    """Turn whatever gpiozero raised into one sentence a person can act on."""
    from gpiozero.exc import (
        BadPinFactory,
        GPIOPinInUse,
        PinInvalidPin,
        PinPWMUnsupported,
        PinUnknownPi,
    )

    said = " ".join([str(exc), *fallbacks]).lower()
    if isinstance(exc, GPIOPinInUse):
        return f"BCM pin {pin} is already in use (by another edged device or another program)"
    if isinstance(exc, PinInvalidPin):
        return f"BCM pin {pin} does not exist on this board"
    if isinstance(exc, PinPWMUnsupported):
        return f"BCM pin {pin} cannot do PWM here; set controls.led_pwm: false"
    if isinstance(exc, PermissionError) or any(
            word in said for word in ("permission", "gpiochip", "/dev/mem", "not permitted")):
        return ("permission denied on /dev/gpiochip* (run edged as a user in the 'gpio' "
                "group, and allow the device in the unit: DeviceAllow=/dev/gpiochip0 rw)")
    if isinstance(exc, PinUnknownPi) or "unable to locate pi revision" in said:
        return "this machine is not a Raspberry Pi (no GPIO pin factory could be loaded)"
    if isinstance(exc, BadPinFactory):
        tried = "; ".join(fallbacks) or str(exc)
        return f"no GPIO library could be loaded (install python3-lgpio): {tried}"
    if isinstance(exc, ImportError):
        return f"the GPIO library named by GPIOZERO_PIN_FACTORY is not installed ({exc})"
    return f"{type(exc).__name__}: {exc}"


def _build(key: str, pin: int, make: Callable[[], T]) -> T:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return make()
        except Exception as exc:
            fallbacks = [str(w.message) for w in caught]
            raise ControlsUnavailable(key, _explain(exc, pin, fallbacks)) from exc


# --------------------------------------------------------------------------- the shell


class Controls:
    """Buttons and LED for one event loop; build it on the loop's thread.

    ``on_event`` is called on the loop with ``PttDown()``, ``PttUp()``,
    ``WakePress(held_ms)`` or ``WakeHold()`` (the daemon adds the pre-roll to
    ``PttDown`` before passing it to the conversation). ``pin_factory``: a
    gpiozero factory (tests pass a ``MockFactory``); None = gpiozero's default.
    """

    def __init__(
        self,
        config: ControlsConfig,
        loop: asyncio.AbstractEventLoop,
        on_event: Callable[[ButtonEvent], None],
        *,
        pin_factory: Any = None,
    ) -> None:
        self._loop = loop
        self._on_event = on_event
        self._factory = pin_factory
        self._pwm = config.led_pwm
        self._devices: list[Any] = []
        self._logic: dict[Role, ButtonLogic] = {}
        self._timers: dict[Role, asyncio.TimerHandle] = {}
        self._led: Any = None
        self._pattern: LedPattern | None = None
        self.pressed_at_start: tuple[Role, ...] = ()
        if not config.enabled:
            return
        try:
            self._setup(config)
        except BaseException:
            self.close()
            raise

    @property
    def has_buttons(self) -> bool:
        return bool(self._logic)

    @property
    def has_led(self) -> bool:
        return self._led is not None

    def _setup(self, config: ControlsConfig) -> None:
        from gpiozero import LED, PWMLED, Button

        bounce_s = config.bounce_ms / 1000
        stuck: list[Role] = []
        buttons: tuple[tuple[Role, str, int | None], ...] = (
            ("ptt", "controls.ptt_pin", config.ptt_pin),
            ("wake", "controls.wake_pin", config.wake_pin),
        )
        for role, key, pin in buttons:
            if pin is None:
                continue

            def make(p: int = pin) -> Any:
                # bounce_time stays None: gpiozero's debounce (lgpio's glitch filter)
                # would delay every press by bounce_ms; ours passes the first edge at once.
                return Button(p, pull_up=config.pull_up, pin_factory=self._factory)

            button = _build(key, pin, make)
            self._devices.append(button)
            logic = ButtonLogic(role, bounce_s, config.mute_hold_s)
            logic.start(bool(button.is_pressed))
            if button.is_pressed:
                stuck.append(role)
            self._logic[role] = logic
            button.when_pressed = self._relay(role, True)
            button.when_released = self._relay(role, False)
        self.pressed_at_start = tuple(stuck)
        if config.led_pin is not None:
            kind = PWMLED if config.led_pwm else LED
            key = "controls.led_pwm" if config.led_pwm else "controls.led_pin"
            pin = config.led_pin
            self._led = _build(key, pin, lambda: kind(pin, pin_factory=self._factory))
            self._devices.append(self._led)

    def _relay(self, role: Role, pressed: bool) -> Callable[[], None]:
        """The gpiozero callback: stamp the time, hand the edge to the loop, nothing else."""
        loop = self._loop

        def callback() -> None:
            now = loop.time()
            with contextlib.suppress(RuntimeError):  # loop closed: edged is stopping
                loop.call_soon_threadsafe(self._edge, role, pressed, now)

        return callback

    def _edge(self, role: Role, pressed: bool, now: float) -> None:
        logic = self._logic.get(role)
        if logic is None:
            return
        self._deliver(logic.edge(pressed, now))
        self._schedule(role)

    def _poll(self, role: Role, due: float) -> None:
        self._timers.pop(role, None)
        logic = self._logic.get(role)
        if logic is None:
            return
        self._deliver(logic.poll(max(self._loop.time(), due)))
        self._schedule(role)

    def _schedule(self, role: Role) -> None:
        timer = self._timers.pop(role, None)
        if timer is not None:
            timer.cancel()
        due = self._logic[role].deadline()
        if due is not None:
            self._timers[role] = self._loop.call_at(due, self._poll, role, due)

    def _deliver(self, events: list[ButtonEvent]) -> None:
        for event in events:
            self._on_event(event)

    def set_led(self, pattern: LedPattern) -> None:
        """Show a pattern (no-op without an LED); gpiozero animates it in its own thread."""
        if self._led is None or pattern == self._pattern:
            return
        self._pattern = pattern
        plan = led_plan(pattern, self._pwm)
        if plan.kind == "off":
            self._led.off()
        elif plan.kind == "on":
            self._led.on()
        elif plan.kind == "blink":
            self._led.blink(on_time=plan.on_s, off_time=plan.off_s)
        else:
            self._led.pulse(fade_in_time=plan.on_s, fade_out_time=plan.off_s)

    def close(self) -> None:
        """Release the pins (idempotent); no event is delivered afterwards."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._logic.clear()
        devices, self._devices, self._led = self._devices, [], None
        for device in reversed(devices):
            with contextlib.suppress(Exception):  # closing must not fail the shutdown
                device.close()
