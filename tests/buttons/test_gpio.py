"""The gpiozero shell, against gpiozero's own MockFactory.

This machine has no GPIO, so the pins are mocked (gpiozero's MockFactory and
MockPWMPin): that is the only thing faked. Presses are driven with
``pin.drive_low()``/``drive_high()`` from another thread, as lgpio would call
back from its own thread; the real asyncio loop, gpiozero's Button/LED/PWMLED
classes and their background blink threads are used as they are.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gpiozero import Button, Device
from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin

from edged.buttons.gestures import ButtonEvent
from edged.buttons.gpio import Controls, ControlsUnavailable, led_plan
from edged.config import ControlsConfig
from edged.conversation import PttDown, PttUp, WakeHold, WakePress

PTT, WAKE, LED = 17, 27, 22


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.reset()


@pytest.fixture
def pwm_factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


class Rig:
    """A Controls on a running loop, recording events with the thread they arrived on."""

    def __init__(self, loop: asyncio.AbstractEventLoop, controls: Controls) -> None:
        self.loop = loop
        self.controls = controls
        self.events: list[tuple[ButtonEvent, float, int]] = []

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[ButtonEvent]:
        deadline = time.monotonic() + timeout
        while len(self.events) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return [e for e, _, _ in self.events]

    async def settle(self, seconds: float = 0.2) -> list[ButtonEvent]:
        await asyncio.sleep(seconds)
        return [e for e, _, _ in self.events]


def run(config: ControlsConfig, factory: MockFactory,
        body: Callable[[Rig], Any]) -> Rig:
    async def main() -> Rig:
        loop = asyncio.get_running_loop()
        rig: Rig
        controls = Controls(config, loop, lambda e: rig.events.append(
            (e, loop.time(), threading.get_ident())), pin_factory=factory)
        rig = Rig(loop, controls)
        rig.loop_thread = threading.get_ident()  # type: ignore[attr-defined]
        try:
            await body(rig)
        finally:
            controls.close()
        return rig

    return asyncio.run(main())


def drive(*steps: tuple[Any, bool, float]) -> Callable[[], None]:
    """A script for the pin-driving thread: (pin, pressed, then sleep seconds)."""
    def script() -> None:
        for pin, pressed, pause in steps:
            if pressed:
                pin.drive_low()
            else:
                pin.drive_high()
            if pause:
                time.sleep(pause)
    return script


# --------------------------------------------------------------------------- buttons


def test_presses_reach_the_loop_thread_as_conversation_events(factory: MockFactory) -> None:
    pin = factory.pin(PTT)

    async def body(rig: Rig) -> None:
        await asyncio.to_thread(drive((pin, True, 0.3), (pin, False, 0)))
        assert await rig.wait_for(2) == [PttDown(), PttUp()]
        callers = {thread for _, _, thread in rig.events}
        assert callers == {rig.loop_thread}  # type: ignore[attr-defined]
        assert threading.get_ident() == rig.loop_thread  # type: ignore[attr-defined]

    run(ControlsConfig(), factory, body)


def test_a_chattering_press_and_release_give_one_down_and_one_up(
        factory: MockFactory) -> None:
    pin = factory.pin(PTT)
    chatter = [(pin, level, 0.001) for level in (True, False, True, False, True)]
    release = [(pin, level, 0.001) for level in (False, True, False, True, False)]

    async def body(rig: Rig) -> None:
        await asyncio.to_thread(drive(*chatter, (pin, True, 0.3), *release))
        assert await rig.settle(0.3) == [PttDown(), PttUp()]

    run(ControlsConfig(bounce_ms=30), factory, body)


def test_a_release_inside_the_bounce_window_is_delivered_after_it(
        factory: MockFactory) -> None:
    pin = factory.pin(PTT)

    async def body(rig: Rig) -> None:
        await asyncio.to_thread(drive((pin, True, 0.0), (pin, False, 0.0)))
        events = await rig.wait_for(2)
        assert events == [PttDown(), PttUp()]
        (_, down_at, _), (_, up_at, _) = rig.events
        assert up_at - down_at >= 0.15  # held back until the 200 ms lockout ended

    run(ControlsConfig(bounce_ms=200), factory, body)


def test_a_wake_tap_is_reported_with_its_length(factory: MockFactory) -> None:
    pin = factory.pin(WAKE)

    async def body(rig: Rig) -> None:
        await asyncio.to_thread(drive((pin, True, 0.05), (pin, False, 0)))
        (event,) = await rig.wait_for(1)
        assert isinstance(event, WakePress) and 40 <= event.held_ms < 1000

    run(ControlsConfig(), factory, body)


def test_a_long_wake_hold_fires_while_held_and_its_release_is_silent(
        factory: MockFactory) -> None:
    pin = factory.pin(WAKE)

    async def body(rig: Rig) -> None:
        pressed = rig.loop.time()
        await asyncio.to_thread(pin.drive_low)
        assert await rig.wait_for(1) == [WakeHold()]
        assert rig.events[0][1] - pressed >= 0.5
        assert pin.state == 0  # still held when it fired
        await asyncio.to_thread(pin.drive_high)
        assert await rig.settle(0.3) == [WakeHold()]

    run(ControlsConfig(mute_hold_s=0.5), factory, body)


class HeldPin(MockPin):  # type: ignore[misc]  # gpiozero ships no type hints
    """A button held down at start-up: its contact to ground beats the weak pull-up
    (a mock pin would otherwise follow the pull the moment Button sets it)."""

    def _set_pull(self, value: str) -> None:
        super()._set_pull(value)
        self._change_state(False)


def test_a_button_down_at_start_up_is_ignored_until_released(factory: MockFactory) -> None:
    pin = factory.pin(PTT, pin_class=HeldPin)

    async def body(rig: Rig) -> None:
        assert rig.controls.pressed_at_start == ("ptt",)
        await asyncio.to_thread(drive((pin, False, 0.1), (pin, True, 0.1)))
        assert await rig.wait_for(1) == [PttDown()]

    run(ControlsConfig(), factory, body)


def test_pull_down_buttons_press_high(factory: MockFactory) -> None:
    pin = factory.pin(PTT)

    def script() -> None:
        pin.drive_high()  # with pull_up false the button connects the pin to 3.3 V
        time.sleep(0.2)
        pin.drive_low()

    async def body(rig: Rig) -> None:
        await asyncio.to_thread(script)
        assert await rig.wait_for(2) == [PttDown(), PttUp()]

    run(ControlsConfig(pull_up=False, wake_pin=None), factory, body)


def test_nothing_is_delivered_after_close_and_the_pins_are_released(
        factory: MockFactory) -> None:
    pin = factory.pin(PTT)

    async def body(rig: Rig) -> None:
        rig.controls.close()
        await asyncio.to_thread(drive((pin, True, 0.1), (pin, False, 0)))
        assert await rig.settle() == []
        again = Controls(ControlsConfig(), rig.loop, lambda e: None, pin_factory=factory)
        again.close()

    run(ControlsConfig(), factory, body)


def test_disabled_controls_touch_no_gpio() -> None:
    loop = asyncio.new_event_loop()
    try:
        controls = Controls(ControlsConfig(enabled=False), loop, lambda e: None)
        assert not controls.has_buttons and not controls.has_led
        controls.set_led("error")  # a no-op, not an error
        controls.close()
    finally:
        loop.close()


# --------------------------------------------------------------------------- LED


def changes_during(pin: Any, seconds: float) -> list[float]:
    pin.clear_states()
    time.sleep(seconds)
    return [s.state for s in pin.states[1:]]


def test_pwm_led_patterns(pwm_factory: MockFactory) -> None:
    pin = pwm_factory.pin(LED)

    async def body(rig: Rig) -> None:
        c = rig.controls
        c.set_led("listening")
        assert pin.state == 1
        c.set_led("idle")
        assert pin.state == 0
        c.set_led("speaking")  # pulses: many intermediate brightness levels
        levels = await asyncio.to_thread(changes_during, pin, 1.0)
        assert len({round(v, 2) for v in levels if 0 < v < 1}) >= 5
        c.set_led("thinking")  # pulses faster than speaking
        fast = await asyncio.to_thread(changes_during, pin, 1.0)
        assert fast.count(0) > levels.count(0)
        c.set_led("muted")  # slow blink: on briefly, off long
        blink = await asyncio.to_thread(changes_during, pin, 2.2)
        assert 1 <= blink.count(1) <= 2 and set(blink) <= {0, 1}

    run(ControlsConfig(led_pin=LED, led_pwm=True), pwm_factory, body)


def test_plain_led_blinks_where_a_pwm_led_would_pulse(factory: MockFactory) -> None:
    pin = factory.pin(LED)

    async def body(rig: Rig) -> None:
        c = rig.controls
        c.set_led("error")  # fast blink
        states = await asyncio.to_thread(changes_during, pin, 1.0)
        assert states.count(True) >= 4 and set(states) <= {True, False}
        c.set_led("speaking")
        slow = await asyncio.to_thread(changes_during, pin, 1.5)
        assert 0 < slow.count(True) < states.count(True)
        c.set_led("listening")
        assert pin.state is True

    run(ControlsConfig(led_pin=LED, led_pwm=False), factory, body)


def test_every_pattern_has_a_plan_for_both_kinds_of_led() -> None:
    for pattern in ("idle", "listening", "thinking", "speaking", "muted", "error"):
        assert led_plan(pattern, True).kind in ("off", "on", "blink", "pulse")
        assert led_plan(pattern, False).kind in ("off", "on", "blink")
    assert led_plan("speaking", True).kind == "pulse"
    assert led_plan("speaking", False).kind == "blink"


# --------------------------------------------------------------------------- no GPIO


def test_on_a_machine_without_gpio_the_error_names_the_cause_and_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No mock here: this x86 machine really has no pin factory gpiozero can load."""
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(Device, "pin_factory", None)
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ControlsUnavailable) as info:
            Controls(ControlsConfig(), loop, lambda e: None)
        assert info.value.key == "controls.ptt_pin"
        assert "not a Raspberry Pi" in str(info.value)
        assert str(info.value).startswith("controls.ptt_pin: ")
        assert "controls.required: false" in str(info.value)
        with pytest.raises(ControlsUnavailable) as info:
            Controls(ControlsConfig(ptt_pin=None), loop, lambda e: None)
        assert info.value.key == "controls.wake_pin"
    finally:
        loop.close()


def test_a_busy_pin_is_reported_with_its_key(factory: MockFactory) -> None:
    squatter = Button(WAKE, pin_factory=factory)
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ControlsUnavailable) as info:
            Controls(ControlsConfig(), loop, lambda e: None, pin_factory=factory)
        assert info.value.key == "controls.wake_pin"
        assert f"BCM pin {WAKE} is already in use" in info.value.cause
        # the push-to-talk button built before the failure was released again
        Button(PTT, pin_factory=factory).close()
    finally:
        squatter.close()
        loop.close()


class NoPermissionFactory(MockFactory):  # type: ignore[misc]
    """Stands in for /dev/gpiochip0 without permission: we are root and have no
    gpiochip here, so that failure cannot be produced for real."""

    def pin(self, name: Any, pin_class: Any = None, **kwargs: Any) -> MockPin:
        raise PermissionError(13, "Permission denied", "/dev/gpiochip0")


def test_no_permission_on_the_gpio_chip_is_explained() -> None:
    f = NoPermissionFactory()
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ControlsUnavailable) as info:
            Controls(ControlsConfig(), loop, lambda e: None, pin_factory=f)
        assert info.value.key == "controls.ptt_pin"
        assert "permission denied on /dev/gpiochip" in info.value.cause
        assert "gpio" in info.value.cause
    finally:
        f.reset()
        loop.close()


def test_a_pwm_led_on_a_pin_without_pwm_points_at_led_pwm(factory: MockFactory) -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ControlsUnavailable) as info:
            Controls(ControlsConfig(led_pin=LED, led_pwm=True), loop, lambda e: None,
                     pin_factory=factory)
        assert info.value.key == "controls.led_pwm"
        assert "led_pwm: false" in info.value.cause
        # nothing stays reserved after the failure
        Controls(ControlsConfig(led_pin=LED, led_pwm=False), loop, lambda e: None,
                 pin_factory=factory).close()
    finally:
        loop.close()


def test_a_pin_that_does_not_exist_is_reported(factory: MockFactory) -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ControlsUnavailable) as info:
            Controls(ControlsConfig(ptt_pin=45), loop, lambda e: None, pin_factory=factory)
        assert info.value.key == "controls.ptt_pin" and "does not exist" in info.value.cause
    finally:
        loop.close()
