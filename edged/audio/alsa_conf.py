"""``audio.alsa_config``: an ALSA configuration file read instead of the system's.

PortAudio's device probe opens every PCM the ALSA configuration defines, and each
open loads that PCM's plugin (a52 brings libavcodec, jack brings JACK, ...): on a
stock Debian that costs megabytes of memory for devices edged never uses. Pointing
``ALSA_CONFIG_PATH`` at a file that defines only the PCMs edged needs keeps the
probe to those. Such a file must define a default PCM: PortAudio 19.6 fails an
assertion and aborts the whole process without one, so it is checked first.
"""

from __future__ import annotations

import os

ENV = "ALSA_CONFIG_PATH"
_INHERITED = os.environ.get(ENV)
"""What the process's own environment said, restored when the key is null."""

NO_DEFAULT = ("defines no default PCM (add pcm.!default { ... }): without a default PCM "
              "PortAudio aborts the process")

_DELIMITERS = set("{}[]'\"=;,.#") | {" ", "\t", "\n", "\r", "\f", "\v"}


class AlsaConfigError(OSError):
    """The file ``audio.alsa_config`` names cannot be used; PortAudio was not touched."""


def text_problem(text: str) -> str | None:
    """Why an ALSA configuration text cannot stand in for the system's (None: it can)."""
    return None if ("pcm", "default") in _defined(text) else NO_DEFAULT


def file_problem(path: str) -> str | None:
    """Why the file at ``path`` (absolute, as the config checks) cannot be used (None:
    it can), path included."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return f"{path}: no such file"
    except IsADirectoryError:
        return f"{path}: is a directory, not a file"
    except PermissionError:
        return f"{path}: permission denied (it must be readable by the user edged runs as)"
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror}"
    why = text_problem(data.decode("utf-8", errors="replace"))
    return None if why is None else f"{path}: {why}"


def apply(path: str | None) -> None:
    """Make the next PortAudio read ``path``; None puts back what the process inherited
    (so a null key never overrides an ``ALSA_CONFIG_PATH`` the environment set)."""
    value = path if path is not None else _INHERITED
    if value is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = value


def _defined(text: str) -> set[tuple[str, str]]:
    """The first two parts of every key the text defines, as ALSA's parser reads them.

    A key may be dotted (``pcm.!default``), nested (``pcm { default { ... } }``) or
    quoted; a value that merely names ``default`` (``slave.pcm "default"``) defines
    nothing. Includes (``<file>``) are not followed.
    """
    reader = _Reader(text)
    reader.block([], "", keyed=True)
    return reader.found


class _Reader:
    """A forgiving walk over ALSA configuration syntax that only collects keys."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.found: set[tuple[str, str]] = set()

    def peek(self) -> str:
        """The next significant character ("" at the end), past blanks, separators,
        comments and includes."""
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c in "#<":
                end = text.find("\n" if c == "#" else ">", self.pos)
                self.pos = len(text) if end < 0 else end + 1
            elif c.isspace() or c in "=;,":
                self.pos += 1
            else:
                return c
        return ""

    def word(self, key: bool) -> str:
        """A quoted or bare string; in a key, a bare string ends at a dot."""
        text, start = self.text, self.pos
        c = text[start:start + 1]
        if c and c in "'\"":
            end = start + 1
            while end < len(text) and text[end] != c:
                end += 2 if text[end] == "\\" else 1
            self.pos = end + 1
            return text[start + 1:end]
        while self.pos < len(text) and not (
                text[self.pos] in _DELIMITERS and (key or text[self.pos] != ".")):
            self.pos += 1
        return text[start:self.pos]

    def value(self, path: list[str]) -> None:
        c = self.peek()
        if c in ("{", "["):
            self.pos += 1
            self.block(path, "}" if c == "{" else "]", keyed=c == "{")
        elif c and c not in "}]":
            self.word(key=False)

    def key(self, path: list[str]) -> list[str]:
        """A dotted key, each part with an optional ! or ? (override) in front."""
        parts = list(path)
        while True:
            if self.peek() in ("!", "?"):
                self.pos += 1
            start = self.pos
            parts.append(self.word(key=True))
            self.pos += self.pos == start  # never stall on an unexpected character
            if self.peek() != ".":
                return parts
            self.pos += 1

    def block(self, path: list[str], close: str, keyed: bool) -> None:
        while (c := self.peek()) and c != close:
            if c in "}]":  # a stray closer: step over it
                self.pos += 1
            elif not keyed:
                self.value(path)
            else:
                key = self.key(path)
                if len(key) >= 2:
                    self.found.add((key[0], key[1]))
                self.value(key)
        self.pos += 1
