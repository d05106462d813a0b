"""The Prometheus textfile: its format checked by the official client's parser (a test
dependency, so the check does not share our formatter's assumptions), its atomic
replacement on a real file system, the failure path, reloads, and the example rules.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from edged import __version__
from edged.config import ConfigError, HealthConfig, parse
from edged.health.metrics import Metrics
from edged.health.proc import ProcSample
from edged.health.prometheus import MODE, Textfile, exposition
from edged.health.reporter import HealthReporter
from edged.redact import MASK
from tests.leaks import redactor_with

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "3f2a9c0d1e2b" + "0123456789abcdef" * 3 + "4d5e"
MiB = 1024 * 1024


def snapshot(**extra: Any) -> dict[str, Any]:
    m = Metrics(0.0)
    m.version = __version__
    m.config_sha256 = DIGEST
    m.set_state("listening")
    m.set_link("up", 10.0)
    m.set_link("connecting", 20.0)
    m.set_link("up", 22.5)
    m.fail("network", "connection reset", 20.0)
    m.fail("auth", "401", 21.0)
    m.fail("network", "timed out", 22.0)
    m.set_device("input", "open")
    m.set_device("output", "lost")
    m.uplink.record(12.0)
    m.downlink.record(80.0)
    m.answers, m.barge_ins = 7, 2
    m.utterances_held, m.utterances_delivered, m.utterances_dropped = 3, 2, 1
    m.input_overflows, m.output_underflows = 4, 5
    snap = m.snapshot(600.0, ProcSample(31.25, 35.0, 0.375))
    snap.update(extra)
    return snap


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: dict[str, Any], name: str, **labels: str) -> float:
    family_name = name.removesuffix("_total")
    [sample] = [s for s in fams[family_name].samples if s.name == name and s.labels == labels]
    return float(sample.value)


def test_every_figure_parses_with_its_type_help_and_unit() -> None:
    text = exposition(snapshot(timers_pending=2), priority="warning", budgets=HealthConfig())
    fams = families(text)
    assert value(fams, "edged_build_info", version=__version__, config_sha256=DIGEST) == 1
    assert value(fams, "edged_health_level") == 1
    assert value(fams, "edged_uptime_seconds") == 600
    assert value(fams, "edged_link_up") == 1
    assert value(fams, "edged_link_state", state="up") == 1
    assert value(fams, "edged_link_up_seconds") == 577.5
    assert value(fams, "edged_connects_total") == 2
    assert value(fams, "edged_reconnects_total") == 1
    assert value(fams, "edged_errors_total", kind="network") == 2
    assert value(fams, "edged_errors_total", kind="auth") == 1
    assert value(fams, "edged_resident_memory_bytes") == 31.2 * MiB  # the record's 0.1 MB
    assert value(fams, "edged_resident_memory_peak_bytes") == 35 * MiB
    assert value(fams, "edged_memory_budget_bytes", level="critical") == 100 * MiB
    assert value(fams, "edged_cpu_percent") == 0.38
    assert value(fams, "edged_input_overflows_total") == 4
    assert value(fams, "edged_output_underflows_total") == 5
    assert value(fams, "edged_audio_device_state", device="output", state="lost") == 1
    assert value(fams, "edged_answers_total") == 7
    assert value(fams, "edged_barge_ins_total") == 2
    assert value(fams, "edged_utterances_total", outcome="dropped") == 1
    assert math.isclose(value(fams, "edged_uplink_latency_p95_seconds"), 0.012)
    assert math.isclose(value(fams, "edged_downlink_latency_p50_seconds"), 0.08)
    assert value(fams, "edged_timers_pending") == 2
    for name, family in fams.items():
        assert re.fullmatch(r"edged_[a-z0-9_]+", name)
        assert family.documentation, f"{name} has no HELP"
        assert family.type in ("gauge", "counter"), name
        if family.type == "counter":
            assert all(s.name == name + "_total" for s in family.samples), name
        assert not re.search(r"_(mb|ms|pct|kb)(_|$)", name), f"{name}: not a base unit"
    # every HELP and TYPE line is there, once, before the samples they describe
    for name in ("edged_link_up", "edged_errors_total"):
        assert text.count(f"# HELP {name} ") == 1
        assert text.index(f"# TYPE {name} ") < text.index(f"\n{name}")


def test_figures_the_record_lacks_are_left_out() -> None:
    snap = Metrics(0.0).snapshot(5.0)  # no /proc sample, no latencies, no tools
    fams = families(exposition(snap))
    for absent in ("edged_resident_memory_bytes", "edged_cpu_percent", "edged_timers_pending",
                   "edged_uplink_latency_p95_seconds", "edged_memory_budget_bytes",
                   "edged_audio_device_state", "edged_errors"):
        assert absent not in fams
    assert value(fams, "edged_link_up") == 0
    assert value(fams, "edged_build_info", version="", config_sha256="") == 1


def test_label_values_are_escaped_and_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "Tool-Token-0123456789abcdef"
    monkeypatch.setattr("edged.redact.REDACTOR", redactor_with(secret))
    odd = 'quote " back \\ slash\nnewline'
    snap = snapshot(failures={odd: 1, f"leak {secret}": 2})
    text = exposition(snap)
    fams = families(text)
    assert value(fams, "edged_errors_total", kind=odd) == 1
    assert value(fams, "edged_errors_total", kind=f"leak {MASK}") == 2
    assert "0123456789abcdef" not in text.replace(DIGEST, "")
    assert value(fams, "edged_build_info", version=__version__, config_sha256=DIGEST) == 1


def test_the_file_is_replaced_atomically(tmp_path: Path) -> None:
    """A reader polling the file sees whole files only, each one a new inode with
    mode 0644 whatever the umask, and no temporary file is left behind."""
    path = tmp_path / "edged.prom"
    textfile = Textfile(str(path))
    texts = [exposition(snapshot(failures={f"kind{i}_{j}": j for j in range(i % 40)}))
             for i in range(200)]
    seen: list[str] = []
    partial: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            seen.append(text)
            if text not in texts:
                partial.append(text)

    old_umask = os.umask(0o077)
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        inodes = []
        for text in texts:
            assert textfile.write(text)
            inodes.append(path.stat().st_ino)
            assert path.stat().st_mode & 0o777 == MODE
    finally:
        done.set()
        thread.join()
        os.umask(old_umask)
    assert partial == []
    assert len(seen) > 10  # the reader did read while the writes went on
    assert all(a != b for a, b in itertools.pairwise(inodes))  # renamed in
    assert path.read_text() == texts[-1]
    assert list(tmp_path.iterdir()) == [path]
    families(path.read_text())


def test_a_failing_write_warns_once_per_error_and_recovers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edged.health")
    missing = tmp_path / "node-exporter"
    textfile = Textfile(str(missing / "edged.prom"))
    text = exposition(snapshot())
    assert [textfile.write(text) for _ in range(3)] == [False] * 3
    (tmp_path / "blocker").write_text("a file, not a directory")
    textfile.move(str(tmp_path / "blocker" / "edged.prom"))
    assert [textfile.write(text) for _ in range(2)] == [False] * 2
    textfile.move(str(missing / "edged.prom"))
    assert textfile.write(text) is False
    missing.mkdir()
    assert textfile.write(text) and textfile.write(text)
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in said] == ["WARNING", "WARNING", "WARNING", "INFO"], said
    assert "No such file or directory" in said[0][1]
    assert "Not a directory" in said[1][1]
    assert said[3][1] == f"writing the Prometheus textfile {missing / 'edged.prom'} again"
    fields = [getattr(r, "fields", {}) for r in caplog.records]
    assert [f.get("prometheus") for f in fields] == ["write_failed"] * 3 + ["written"]
    assert all(f.get("kind") == "prometheus" for f in fields)
    assert families((missing / "edged.prom").read_text())


def reporter(path: Path | None, **figures: Any) -> HealthReporter:
    m = Metrics(0.0)
    m.set_link("up", 0.0)
    return HealthReporter(m, HealthConfig(prometheus_textfile=str(path) if path else None),
                          write=lambda *a: None, figures=lambda: figures)


def test_the_reporter_writes_at_each_record_and_a_reload_moves_or_stops_it(
        tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "edged.prom", tmp_path / "b" / "edged.prom"
    first.parent.mkdir()
    second.parent.mkdir()
    r = reporter(first, timers_pending=3)
    r.prime()
    r.report()
    assert value(families(first.read_text()), "edged_timers_pending") == 3
    r.reconfigure(HealthConfig(prometheus_textfile=str(second)))
    assert not first.exists()  # the old file would be served as current for ever
    r.report()
    assert value(families(second.read_text()), "edged_link_up") == 1
    r.reconfigure(HealthConfig())
    assert not second.exists()
    r.report()
    assert list(tmp_path.rglob("*.prom")) == []


def test_a_failing_textfile_never_stops_the_health_record(tmp_path: Path) -> None:
    written: list[object] = []
    m = Metrics(0.0)
    r = HealthReporter(m, HealthConfig(prometheus_textfile=str(tmp_path / "no" / "x.prom")),
                       write=lambda *a: written.append(a))
    r.prime()
    r.report()
    r.report()
    assert len(written) == 2


def test_the_config_key_must_be_an_absolute_prom_file() -> None:
    ok = parse("health:\n  prometheus_textfile: /var/lib/prometheus/node-exporter/edged.prom\n")
    assert ok.health.prometheus_textfile == "/var/lib/prometheus/node-exporter/edged.prom"
    assert parse("health:\n  prometheus_textfile: null\n").health.prometheus_textfile is None
    for bad, why in (("edged.prom", "must be an absolute path"),
                     ("/var/lib/edged.txt", "must name a file ending in .prom"),
                     ("/var/lib/node exporter/edged.prom", "must not contain spaces")):
        with pytest.raises(ConfigError) as err:
            parse(f"realtime:\n  voice: alloy\nhealth:\n  prometheus_textfile: {bad}\n",
                  "/etc/edged/edged.yaml")
        [problem] = err.value.problems
        assert str(problem).startswith("/etc/edged/edged.yaml:4: health.prometheus_textfile: ")
        assert why in problem.reason


def test_the_example_alert_rules_name_metrics_edged_writes() -> None:
    rules_file = ROOT / "config" / "prometheus-alerts.yml"
    doc = yaml.safe_load(rules_file.read_text())
    [group] = doc["groups"]
    assert group["name"] == "edged"
    rules = {rule["alert"]: rule for rule in group["rules"]}
    assert set(rules) == {"EdgedLinkDown", "EdgedMemoryCritical", "EdgedHealthStale"}
    assert rules["EdgedLinkDown"]["for"] == "5m"
    for rule in rules.values():
        assert set(rule) >= {"alert", "expr", "for", "labels", "annotations"}
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
    written = families(exposition(snapshot(timers_pending=0), budgets=HealthConfig()))
    samples = {s.name for f in written.values() for s in f.samples}
    named = {n for rule in rules.values() for n in re.findall(r"\bedged_[a-z0-9_]+", rule["expr"])}
    assert named == {"edged_link_up", "edged_resident_memory_bytes", "edged_memory_budget_bytes"}
    assert named <= samples
