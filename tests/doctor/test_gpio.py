"""Checks 6–7: pins through the daemon's own Controls on gpiozero's MockFactory.

The GPIO pins are mocked (this machine has none): MockFactory is gpiozero's own
pin factory for that. The default-factory case runs the real gpiozero discovery.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edged.doctor import gpio
from tests.doctor.helpers import context


@pytest.fixture
def factory() -> Iterator[Any]:
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    f = MockFactory(pin_class=MockPWMPin)
    try:
        yield f
    finally:
        f.reset()


def controls_doc(**controls: object) -> dict[str, Any]:
    return {"controls": {"enabled": True, "ptt_pin": 17, "wake_pin": 27, **controls}}


def test_configured_pins_are_usable_and_released(tmp_path: Path, factory: Any) -> None:
    ctx = context(tmp_path, controls_doc(led_pin=12), pin_factory=factory)
    result = gpio.check_gpio(ctx)
    assert result.status == "ok", result
    assert "MockFactory" in result.summary
    assert result.details["pins"] == {"ptt": 17, "wake": 27, "led": 12}
    # released: the daemon can claim the same pins right after
    from gpiozero import Button

    Button(17, pin_factory=factory).close()


def test_a_busy_pin_fails_and_says_who_may_hold_it(tmp_path: Path, factory: Any) -> None:
    from gpiozero import Button

    holder = Button(27, pin_factory=factory)
    try:
        result = gpio.check_gpio(context(tmp_path, controls_doc(), pin_factory=factory))
    finally:
        holder.close()
    assert result.status == "fail"
    assert "controls.wake_pin" in result.summary and "27" in result.summary
    assert result.fix is not None and "systemctl stop edged" in result.fix


def test_a_button_held_at_start_is_a_warning(tmp_path: Path, factory: Any) -> None:
    from gpiozero.pins.mock import MockPWMPin

    class Grounded(MockPWMPin):  # type: ignore[misc]  # gpiozero ships no type hints
        """A button shorted to ground: it beats the pull-up a mock pin would follow."""

        def _set_pull(self, value: str) -> None:
            super()._set_pull(value)
            self._change_state(False)

    factory.pin(17, pin_class=Grounded)
    result = gpio.check_gpio(context(tmp_path, controls_doc(), pin_factory=factory))
    assert result.status == "warn"
    assert result.details["stuck"] == ["ptt"]
    assert result.fix is not None and "pull_up" in result.fix


def test_disabled_controls_are_skipped(tmp_path: Path) -> None:
    result = gpio.check_gpio(context(tmp_path, {"controls": {"enabled": False}}))
    assert result.status == "skip" and "controls.enabled" in result.summary


def test_no_pin_factory_on_this_machine_fails_with_a_fix(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from gpiozero import Device

    if Device.pin_factory is not None:
        pytest.skip("another test set a process-wide gpiozero pin factory")
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    result = gpio.check_gpio(context(tmp_path, controls_doc()))
    if result.status == "ok":
        pytest.skip("a real GPIO pin factory works here (a Raspberry Pi)")
    assert result.status == "fail"
    assert "controls.ptt_pin" in result.summary
    assert result.fix is not None and "controls.enabled: false" in result.fix


def test_group_findings_tell_missing_from_not_yet_active() -> None:
    found = gpio.group_findings(["audio", "gpio"], existing={"audio", "gpio"},
                                active={"audio"}, configured={"audio", "gpio"})
    assert found == [gpio.GroupFinding("gpio", "stale")]
    found = gpio.group_findings(["audio", "gpio"], existing={"audio"}, active=set(),
                                configured=set())
    assert found == [gpio.GroupFinding("audio", "missing"), gpio.GroupFinding("gpio", "absent")]
    assert gpio.group_findings(["audio"], {"audio"}, {"audio"}, set()) == []


def test_groups_as_root_are_skipped_and_as_a_user_are_checked(tmp_path: Path) -> None:
    import os

    result = gpio.check_groups(context(tmp_path, controls_doc()))
    if os.geteuid() == 0:
        assert result.status == "skip" and "root" in result.summary
    else:
        assert result.status in ("ok", "warn")
        assert set(result.details["needed"]) == {"audio", "gpio"}


def test_gpio_fix_points_at_the_cause() -> None:
    assert "led_pwm" in gpio.gpio_fix("BCM pin 5 cannot do PWM here; set controls.led_pwm")
    assert "gpio group" in gpio.gpio_fix("permission denied on /dev/gpiochip*")
    assert "BCM" in gpio.gpio_fix("BCM pin 99 does not exist on this board")
