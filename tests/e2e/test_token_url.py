"""``credentials.token_url`` against the real ``edged run``: no API key on the device,
a short-lived secret from the fleet's token service (a real HTTP server on loopback)
instead, and neither that secret nor the device token anywhere in what it writes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.daemon_rig import launch
from tests.rigs.journald import Journal
from tests.rigs.pulse import PulseRig
from tests.rigs.token_service import TokenServiceRig

DEVICE_TOKEN = "edged-device-Qp4Zr8Ty2Wx6Vb0Nm3Lk7Hj5"


def test_edged_run_connects_with_a_secret_from_the_token_service(
        pulse: PulseRig, tmp_path: Path, journald: Journal, journal_cursor: str | None) -> None:
    token_file = tmp_path / "device-token"
    token_file.write_text(DEVICE_TOKEN + "\n")
    token_file.chmod(0o600)
    with TokenServiceRig(DEVICE_TOKEN, lifetime_s=600) as svc:
        # no API key source at all: the link can only come up with a minted secret
        creds = {"token_url": svc.url, "device_token_credential": None,
                 "device_token_file": str(token_file), "credential": None, "key_file": None,
                 "env": None}
        with launch(pulse, tmp_path, doc={"credentials": creds}) as r:
            assert r.link_up()
            assert len(svc.minted) == 1 and all(s.token_ok for s in svc.requests)
            health = r.status()["health"]
            assert health["link"] == "up"
            pid = r.proc.pid
        text = r.output()
    # every record edged wrote, whatever its level: not one of the secrets
    journal = json.dumps(journald.read(f"_PID={pid}", after=journal_cursor))
    assert '"SYSLOG_IDENTIFIER": "edged"' in journal  # the records are there to search
    for secret in (*svc.minted, DEVICE_TOKEN):
        assert secret not in text and secret not in journal
