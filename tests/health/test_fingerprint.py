"""Version and config hash: what a rollout is checked by.

The digest of the file's bytes as parsed (pure and file-level tests), carried whole
through the journal though the redactor masks 64-hex runs on sight (a real journald),
read back by ``edged status``, and end to end: the real ``edged run`` on the PulseAudio
rig reports the file it started with in its health records, its Prometheus textfile
and its ``status`` reply, and after ``edged ctl reload`` the new file's, while a
refused reload keeps the old one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edged import __version__
from edged.config import ConfigError
from edged.health import fingerprint
from edged.health import journal as hj
from edged.health.metrics import Metrics
from edged.health.records import HealthRecord, health_fields, record_from_entry, table
from edged.redact import MASK
from tests.e2e.daemon_rig import launch, wait
from tests.rigs.journald import Journal
from tests.rigs.pulse import PulseRig, pulse

__all__ = ["pulse"]  # the PulseAudio rig's fixture, for the end-to-end test

DATA = b"# comments count: this is the file as deployed\nrealtime:\n  voice: alloy\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_digest_is_of_the_bytes_parsed(tmp_path: Path) -> None:
    conf = tmp_path / "edged.yaml"
    conf.write_bytes(DATA)
    config, digest = fingerprint.load(conf)
    assert digest == sha(DATA)
    assert config.realtime.voice == "alloy"
    assert config.source == str(conf)
    assert fingerprint.applied_digest(conf, config) == digest
    conf.write_bytes(DATA.replace(b"alloy", b"marin"))  # no longer the config applied
    assert fingerprint.applied_digest(conf, config) is None
    assert fingerprint.applied_digest(tmp_path / "gone.yaml", config) is None


def test_a_file_that_cannot_be_loaded_is_the_loaders_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        fingerprint.load(tmp_path / "missing.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"realtime:\n  voice: caf\xe9\n")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        fingerprint.load(bad)
    refused = tmp_path / "refused.yaml"
    refused.write_bytes(b"realtime:\n  vocie: x\n")
    with pytest.raises(ConfigError, match=r"realtime\.vocie"):
        fingerprint.load(refused)


def snapshot(digest: str | None = sha(DATA)) -> dict[str, object]:
    m = Metrics(0.0)
    m.version, m.config_sha256 = __version__, digest
    m.set_link("up", 0.0)
    return m.snapshot(60.0)


def test_the_record_carries_the_digest_in_its_own_field_and_the_table_shows_it_short() -> None:
    fields = health_fields(snapshot(), "info")
    assert fields["EDGED_VERSION"] == __version__
    assert fields["EDGED_CONFIG_SHA256"] == sha(DATA)
    assert "config_sha256" not in json.loads(fields["EDGED_RECORD"])["health"]
    record = record_from_entry({**fields, "_PID": "42"})
    assert record.health["config_sha256"] == sha(DATA)
    assert record.health["version"] == __version__
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1)
                for line in table(record).splitlines()[1:])
    assert rows["version"] == __version__
    assert rows["config"] == f"sha256 {sha(DATA)[:12]}…"
    unknown = table(HealthRecord(snapshot(None), "info"))
    assert re.search(r"^  config +-$", unknown, re.MULTILINE)


@pytest.fixture
def to_journal(journald: Journal) -> Iterator[None]:
    hj.setup_logging(logging.INFO)
    try:
        yield
    finally:
        hj.reset_logging()


def test_the_journal_keeps_the_digest_whole_and_still_masks_hex_keys(
        to_journal: None, journald: Journal, journal_cursor: str | None) -> None:
    """The redactor masks any 32+ hex run as a possible key; the digest alone passes."""
    key_like = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    snap = snapshot()
    snap["last_error"] = f"server said {key_like}"
    hj.record_health(snap, "info")
    [entry] = journald.mine(journal_cursor, "EDGED_KIND=health")
    assert entry["EDGED_CONFIG_SHA256"] == sha(DATA)
    assert entry["EDGED_VERSION"] == __version__
    assert entry["EDGED_LAST_ERROR"] == f"server said {MASK}"
    assert key_like not in json.dumps(entry)
    assert record_from_entry(entry).health["config_sha256"] == sha(DATA)
    # nor can a key ride the digest's field: only an exact digest of the config does
    hj.log.info("x", extra={"fields": {"kind": "probe"},
                            "public_fields": {"EDGED_CONFIG_SHA256": f"sk-{key_like}",
                                              "EDGED_OTHER": key_like}})
    [probe] = journald.mine(journal_cursor, "EDGED_KIND=probe")
    assert "EDGED_CONFIG_SHA256" not in probe and "EDGED_OTHER" not in probe


# --------------------------------------------------------------------------- end to end


def health_after(journald: Journal, pid: int, cursor: str | None,
                 digest: str) -> dict[str, str]:
    """The first health record of ``pid`` after ``cursor`` that names ``digest``."""
    entries = journald.wait(
        "SYSLOG_IDENTIFIER=edged", f"_PID={pid}", "EDGED_KIND=health", after=cursor,
        until=lambda es: any(e.get("EDGED_CONFIG_SHA256") == digest for e in es), timeout=60)
    return next(e for e in entries if e.get("EDGED_CONFIG_SHA256") == digest)


def build_info(path: Path) -> dict[str, str]:
    for family in text_string_to_metric_families(path.read_text()):
        if family.name == "edged_build_info":
            [sample] = family.samples
            return dict(sample.labels)
    raise AssertionError(f"no edged_build_info in {path}")


def textfile_names(path: Path, digest: str) -> bool:
    return path.exists() and build_info(path)["config_sha256"] == digest


@pytest.mark.pulse
def test_edged_run_reports_the_file_it_applied_and_a_reload_changes_it(
        pulse: PulseRig, journald: Journal, journal_cursor: str | None, tmp_path: Path) -> None:
    metrics = tmp_path / "node-exporter"
    moved = tmp_path / "elsewhere"
    metrics.mkdir()
    moved.mkdir()
    health = {"interval_s": 1, "prometheus_textfile": str(metrics / "edged.prom")}
    with launch(pulse, tmp_path, doc={"health": health}) as r:
        first = sha(r.config.read_bytes())
        record = health_after(journald, r.proc.pid, journal_cursor, first)
        assert record["EDGED_VERSION"] == __version__
        wait(lambda: textfile_names(metrics / "edged.prom", first), "the textfile")
        assert build_info(metrics / "edged.prom")["version"] == __version__
        reply = r.status()["health"]
        assert reply["version"] == __version__
        assert reply["config_sha256"] == first  # public: whole, past the socket's redactor

        # a changed file, reloaded: its digest from the next record on, and the
        # textfile moved with it
        r.write(health={**health, "prometheus_textfile": str(moved / "edged.prom")})
        second = sha(r.config.read_bytes())
        assert second != first
        mark = journald.mark()
        done = r.ctl("reload")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "health.prometheus_textfile" in done.stdout
        health_after(journald, r.proc.pid, mark, second)
        wait(lambda: textfile_names(moved / "edged.prom", second), "the moved textfile")
        assert not (metrics / "edged.prom").exists()

        # a refused file changes nothing: the records still name the one applied
        r.config.write_text("realtime:\n  vocie: x\n")
        mark = journald.mark()
        done = r.ctl("reload")
        assert done.returncode == 1, done.stdout
        later = journald.wait("SYSLOG_IDENTIFIER=edged", f"_PID={r.proc.pid}",
                              "EDGED_KIND=health", after=mark, count=2, timeout=60)
        assert {e.get("EDGED_CONFIG_SHA256") for e in later} == {second}
        assert build_info(moved / "edged.prom")["config_sha256"] == second

