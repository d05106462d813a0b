"""The observer's journal lines: what is said in a home stays private unless asked for."""

from __future__ import annotations

import logging

import pytest

from edged.config import HealthConfig
from edged.daemon import Timeline
from edged.daemon.observe import Observer
from edged.health.metrics import Metrics
from edged.health.reporter import HealthReporter
from edged.realtime import events as rt


def observer() -> Observer:
    metrics = Metrics(0.0)
    return Observer(metrics, HealthReporter(metrics, HealthConfig(), write=lambda *a: None),
                    Timeline())


@pytest.mark.parametrize(("enabled", "level"), [(False, logging.DEBUG), (True, logging.INFO)])
def test_transcripts_are_at_info_only_when_their_own_key_asks(
        caplog: pytest.LogCaptureFixture, enabled: bool, level: int) -> None:
    obs = observer()
    obs.log_transcripts = enabled
    caplog.set_level(logging.DEBUG, logger="edged")
    obs.server_event(rt.InputTranscriptCompleted("item_1", "turn the lights off"), 1.0)
    obs.server_event(rt.TranscriptDone("resp_1", "item_2", "I cannot reach the lights"), 2.0)
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if "transcript" in str(
        getattr(r, "fields", {}).get("kind"))]
    assert lines == [(level, "heard: turn the lights off"),
                     (level, "answered: I cannot reach the lights")]
