"""What a fleet of speakers does after an outage, second by second, without a fleet.

Each speaker runs edged's real reconnect policy (``edged.realtime.policy.Policy``)
with the default ``link`` settings, its own random source, and simulated time: no
sockets, no sleeps, the same answer on every run for a given seed. The servers
have no capacity limit in this model and refuse at once while they are down (a
closed port, or a load balancer's 5xx without Retry-After), which is what makes
retries cheap and the counts worst-case. Two outages, ``outage_s`` long from t=0:

* ``endpoint``: the realtime server. Every link drops at t=0; each speaker backs
  off (full jitter), opens its circuit after ``circuit_threshold`` failures and
  then probes once per ``circuit_reset_s`` (stretched up to 20 %). With a token
  service in front, each attempt first needs a client secret: a held one while it
  lasts (``token_lifetime_s``, renewed a margin before its end), else a fetch.
* ``token_service``: the fleet's token service. Links stay up; a speaker only
  needs a secret when its session renewal comes due (every ``session_renew_min``,
  the held secret long expired by then). The link asks before it ends the working
  session, and while the service is down it keeps the session and asks again once
  per ``circuit_reset_s``; only a session the server ends at its own limit
  (``session_cap_s``, 60 min at OpenAI) takes a speaker offline, into the same
  backoff and circuit as above.

Usage: scripts/herd [--speakers N] [--outage-s S] [--seed N] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edged.config import LinkConfig  # noqa: E402
from edged.realtime.client_secret import reuse_margin  # noqa: E402
from edged.realtime.policy import Cause, Failure, Policy  # noqa: E402

Kind = Literal["endpoint", "token_service"]
DOWN = Failure(Cause.NETWORK, "refused")
SESSION_END = Failure(Cause.SESSION_END, "session limit")


@dataclass
class Outcome:
    """Every event the servers saw, as plain times (seconds from the outage's start)."""

    kind: Kind
    speakers: int
    outage_s: float
    cfg: LinkConfig
    endpoint: list[float] = field(default_factory=list)  # connection attempts
    tokens: list[float] = field(default_factory=list)  # token service requests
    offline: dict[int, tuple[float, float]] = field(default_factory=dict)  # speaker: down, up

    @property
    def down(self) -> list[float]:
        """What the service that was down saw."""
        return self.endpoint if self.kind == "endpoint" else self.tokens


class _Speaker:
    """One speaker's link, as far as the servers can tell."""

    def __init__(self, out: Outcome, rng: Callable[[], float], lifetime_s: float,
                 handshake_s: float) -> None:
        self.out, self.rng = out, rng
        self.policy = Policy(out.cfg, rng)
        self.lifetime_s, self.handshake_s = lifetime_s, handshake_s
        self.held_until = -1e18  # when the held client secret stops being handed out

    def token_up(self, t: float) -> bool:
        return self.out.kind != "token_service" or t >= self.out.outage_s

    def endpoint_up(self, t: float) -> bool:
        return self.out.kind != "endpoint" or t >= self.out.outage_s

    def secret(self, t: float) -> bool:
        """A client secret at ``t``: the held one, or a fetch (recorded)."""
        if t < self.held_until:
            return True
        self.out.tokens.append(t)
        if not self.token_up(t):
            return False
        margin = reuse_margin(self.lifetime_s, self.out.cfg.open_timeout_s)
        self.held_until = t + self.lifetime_s - margin
        return True

    def reconnect(self, t: float, failure: Failure) -> float:
        """From a link that just ended at ``t`` to the moment it is up again."""
        plan = self.policy.failed(failure, t)
        while True:
            t = plan.at
            self.policy.attempt(t)
            if self.secret(t):
                self.out.endpoint.append(t)
                if self.endpoint_up(t):
                    up = t + self.handshake_s
                    self.policy.up(up)
                    return up
            plan = self.policy.failed(DOWN, t)


def simulate(kind: Kind, speakers: int = 1000, outage_s: float = 600.0,
             cfg: LinkConfig | None = None, *, seed: int = 0, token_lifetime_s: float = 600.0,
             session_cap_s: float = 3600.0, handshake_s: float = 0.3,
             jitter: bool = True) -> Outcome:
    """The fleet through one outage (pure: plain values in, plain values out).

    ``jitter=False`` gives every speaker a random source stuck at 1.0: the control
    that shows what a synchronised fleet would do.
    """
    cfg = cfg or LinkConfig()
    out = Outcome(kind, speakers, outage_s, cfg)
    renew_s = cfg.session_renew_min * 60.0
    for i in range(speakers):
        rng = random.Random(f"{seed}:{i}").random if jitter else (lambda: 1.0)
        sp = _Speaker(out, rng, token_lifetime_s, handshake_s)
        age = rng() * renew_s  # how long its session has run at t=0
        sp.policy.attempt(-age - handshake_s)
        sp.policy.up(-age)
        sp.held_until = -age + token_lifetime_s - reuse_margin(token_lifetime_s,
                                                               cfg.open_timeout_s)
        if kind == "endpoint":
            out.offline[i] = (0.0, sp.reconnect(0.0, DOWN))
            continue
        t = renew_s - age  # renewal due: first a secret, then the session ends
        cap = session_cap_s - age
        while not sp.secret(t):
            t += cfg.circuit_reset_s * (1 + 0.2 * rng())
            if t >= cap:  # the server ends the session at its limit
                up = sp.reconnect(cap, SESSION_END)
                if cap < outage_s:  # after the outage, that was an ordinary rejoin
                    out.offline[i] = (cap, up)
                break
        else:
            out.endpoint.append(t)  # the renewal's connect, with the fresh secret
    out.endpoint.sort()
    out.tokens.sort()
    return out


def per_second(times: list[float], start: float, end: float) -> list[int]:
    """Events in each whole second from ``start`` to ``end``."""
    counts = Counter(int(t - start) for t in times if start <= t < end)
    return [counts.get(s, 0) for s in range(int(end - start))]


def summary(out: Outcome, window_s: float = 120.0, bucket_s: int = 10) -> dict[str, Any]:
    """The figures the table shows (plain values)."""
    cfg, rec = out.cfg, out.outage_s
    during = per_second(out.down, 0.0, rec)
    after = per_second(out.down, rec, rec + window_s)
    backs = [up - rec for down, up in out.offline.values() if up >= rec]
    buckets = []
    for b in range(0, int(window_s), bucket_s):
        n = sum(after[b:b + bucket_s])
        back = sum(1 for s in backs if s < b + bucket_s)
        buckets.append({"from_s": b, "to_s": b + bucket_s, "attempts": n,
                        "per_s": round(n / bucket_s, 1), "back": back})
    last_minute = during[-60:] if len(during) >= 60 else during
    return {
        "kind": out.kind, "speakers": out.speakers, "outage_s": rec,
        "normal_per_s": round(out.speakers / (cfg.session_renew_min * 60.0), 2),
        "probe_ceiling_per_s": round(out.speakers / cfg.circuit_reset_s, 1),
        "offline": len(out.offline),
        "outage_peak_per_s": max(during, default=0),
        "outage_last_minute_per_s": round(statistics.fmean(last_minute), 1)
        if last_minute else 0.0,
        "recovery_peak_per_s": max(after, default=0),
        "recovery_buckets": buckets,
        "last_back_s": round(max(backs), 1) if backs else None,
        "median_back_s": round(statistics.median(backs), 1) if backs else None,
        "token_requests_first_s": len([t for t in out.tokens if 0 <= t < 1.0]),
        "endpoint_attempts": len(out.endpoint), "token_requests": len(out.tokens),
    }


def render(s: dict[str, Any]) -> str:
    what = {"endpoint": "the realtime endpoint",
            "token_service": "the token service"}[s["kind"]]
    lines = [
        f"{s['speakers']} speakers, {what} down for {s['outage_s']:.0f} s from t=0 "
        "(edged's default link settings)",
        f"  an ordinary day: {s['normal_per_s']} connects/s (session renewals); open "
        f"circuits allow at most {s['probe_ceiling_per_s']}/s",
        f"  speakers offline: {s['offline']}",
        f"  during the outage, at {what}: peak {s['outage_peak_per_s']} attempts in one "
        f"second, {s['outage_last_minute_per_s']}/s over its last minute",
        f"  after recovery: peak {s['recovery_peak_per_s']} attempts in one second",
        "    seconds after   attempts   per second   speakers back",
    ]
    for b in s["recovery_buckets"]:
        lines.append(f"    {b['from_s']:>4}–{b['to_s']:<4}     {b['attempts']:>8}   "
                     f"{b['per_s']:>10}   {b['back']:>13}")
    if s["last_back_s"] is not None:
        lines.append(f"  last speaker back {s['last_back_s']} s after recovery (median "
                     f"{s['median_back_s']} s)")
    if s["kind"] == "endpoint":
        lines.append(f"  token service (if used): {s['token_requests_first_s']} requests in "
                     f"the outage's first second, {s['token_requests']} in all")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/herd", description=__doc__.splitlines()[0])
    ap.add_argument("--speakers", type=int, default=1000)
    ap.add_argument("--outage-s", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON object")
    args = ap.parse_args(argv)
    if args.speakers < 1 or args.outage_s <= 0:
        ap.error("--speakers and --outage-s must be positive")
    results = [summary(simulate(kind, args.speakers, args.outage_s, seed=args.seed))
               for kind in ("endpoint", "token_service")]
    if args.json:
        print(json.dumps({"scenarios": results}, indent=2))
    else:
        print("\n\n".join(render(s) for s in results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
