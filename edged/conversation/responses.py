"""Which answers this side asked for, and which run on the server. Pure.

The protocol's ``response.created`` does not name the ``response.create`` it
answers, so responses are matched to requests in the order they were asked
for. An ``error`` does name the client event it refuses (``event_id``), so every
request carries its own id and a refusal releases exactly that request. One
class keeps this bookkeeping so the machine's handlers ask it questions and act
on the answers instead of each adjusting counters of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MAX_CREATE_RETRIES = 2
"""How often a response.create refused as a race (another response active) is retried."""

Started = Literal["again", "asked", "abandoned", "unasked"]
"""What a ``response.created`` is: a repeat of a live one, the answer to a wanted
request, the answer to a request given up since, or one the server made itself."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """What an error naming a request (or, for a server that does not echo ids,
    the oldest request) released."""

    event_id: str
    wanted: bool  # the request was still wanted when the server refused it


@dataclass(slots=True)
class Responses:
    """Requests sent on the current session and responses live on it."""

    asked: dict[str, bool] = field(default_factory=dict)  # event_id → still wanted, in order
    live: set[str] = field(default_factory=set)  # started on the server, not yet done
    queued: bool = False  # a request waiting for the server to be free
    retries: int = 0  # races lost by the current turn's request
    sent: int = 0  # requests made so far (names them)
    session: int = 0  # names them apart across sessions

    @property
    def wanted(self) -> int:
        """Requests sent and still wanted."""
        return sum(self.asked.values())

    def new_session(self, session: int) -> None:
        """The link went up or down: nothing of the old session will answer."""
        self.asked.clear()
        self.live.clear()
        self.queued = False
        self.session = session

    def ask(self) -> str | None:
        """A new turn wants an answer: the id of the request to send now, or None if
        it must wait for the server to finish (``flush`` sends it then)."""
        self.retries = 0
        if self.live or self.asked:
            self.queued = True
            return None
        return self._new()

    def flush(self) -> str | None:
        """The id of the queued request if the server is free for it now."""
        if self.queued and not self.live and not self.asked:
            self.queued = False
            return self._new()
        return None

    def _new(self) -> str:
        self.sent += 1
        event_id = f"edged_rc{self.session}_{self.sent}"
        self.asked[event_id] = True
        return event_id

    def started(self, response_id: str) -> Started:
        """A ``response.created``: match it to the oldest request."""
        if response_id in self.live:
            return "again"
        self.live.add(response_id)
        if not self.asked:
            return "unasked"
        oldest = next(iter(self.asked))
        return "asked" if self.asked.pop(oldest) else "abandoned"

    def done(self, response_id: str) -> None:
        self.live.discard(response_id)

    def abandon(self) -> bool:
        """Stop waiting for what was asked; True if something still wanted was given up
        (the server may be making it: a cancel is due)."""
        self.queued = False
        given_up = self.wanted > 0
        for event_id in self.asked:
            self.asked[event_id] = False
        return given_up

    def refused(self, event_id: str | None) -> Refusal | None:
        """An error refused a request: release it. ``event_id`` None (a server that does
        not echo ids) releases the oldest; an id that names no request releases none."""
        if event_id is None:
            if not self.asked:
                return None
            event_id = next(iter(self.asked))
        if event_id not in self.asked:
            return None
        return Refusal(event_id, self.asked.pop(event_id))

    def retry(self) -> bool:
        """A request lost a race with a response still finishing: queue it again, a
        bounded number of times."""
        if self.retries >= MAX_CREATE_RETRIES:
            return False
        self.retries += 1
        self.queued = True
        return True

    def forget(self) -> None:
        """Nothing answered in time: what the server was said to run is forgotten."""
        self.asked.clear()
        self.live.clear()
        self.queued = False
