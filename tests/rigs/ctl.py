"""``edged ctl watch --json`` as a process, its lines gathered by a thread."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

Event = dict[str, Any]


class Watcher:
    """Subscribed to the daemon at ``socket``; :meth:`wait_for` reads on from the last
    event it returned, keeping every event in ``seen`` and every line in ``raw``.

    Both pipes are read by threads of their own from the start, and only by them: a
    ``communicate()`` beside the stdout reader would race it for the same pipe."""

    def __init__(self, socket: str, env: Mapping[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edged", "ctl", "--socket", socket, "watch", "--json"],
            env=None if env is None else dict(env), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.raw: list[str] = []
        self.lines: queue.Queue[Event] = queue.Queue()
        self.seen: list[Event] = []
        self._err: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stdout,),
                                          daemon=True),
                         threading.Thread(target=self._err.extend, args=(self.proc.stderr,),
                                          daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read(self, out: IO[str]) -> None:
        for line in out:
            self.raw.append(line)
            self.lines.put(json.loads(line))

    def wait_for(self, wanted: Callable[[Event], bool], what: str,
                 timeout: float = 60.0) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                event = self.lines.get(timeout=max(0.1, left))
            except queue.Empty:
                raise AssertionError(f"ctl watch: no {what} within {timeout:g} s; saw "
                                     f"{[e['event'] for e in self.seen]}") from None
            self.seen.append(event)
            if wanted(event):
                return event

    def until(self, event: str, phase: str, timeout: float = 60.0) -> Event:
        """The next event of this kind in this phase."""
        return self.wait_for(lambda e: e["event"] == event and e["phase"] == phase,
                             f"{event} in phase {phase}", timeout)

    def stop(self, timeout: float = 60.0) -> str:
        """Interrupt it (it must exit 0); what it wrote on stderr."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for reader in self._readers:  # both pipes reach their end once it has exited
            reader.join(timeout)
        err = "".join(self._err)
        assert self.proc.returncode == 0, err
        return err
