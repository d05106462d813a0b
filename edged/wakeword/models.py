"""Which microWakeWord model a config names, checked before TensorFlow Lite sees it.

pymicro-wakeword hands a path straight to TensorFlow Lite, which answers a missing
or malformed file with a null pointer (and the next call with a crash), so every
fact the loader relies on is checked here first and reported in words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edged.config import WAKE_WORD_MODELS

PACKAGE = "pymicro-wakeword"
NEEDS_64_BIT = ("the wake word needs the optional package pymicro-wakeword, which exists "
                "only for 64-bit systems (x86-64, aarch64): on a Raspberry Pi install a "
                "64-bit Raspberry Pi OS, then run scripts/install.sh again (it adds the "
                "package on a 64-bit Python)")


class ModelError(Exception):
    """A model that cannot be used; the message is for the person editing the config."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What the detector needs from a model's manifest."""

    name: str  # the model's file stem ("okay_nabu")
    phrase: str  # what to say ("Okay Nabu")
    manifest: Path
    tflite: Path
    cutoff: float  # the manifest's probability_cutoff
    window: int  # probabilities averaged before the cutoff applies
    step_ms: int  # audio per feature (10 ms for every shipped model)


def shipped_dir() -> Path:
    """The models inside the installed package; ModelError when it is not installed."""
    try:
        import pymicro_wakeword
    except ImportError as exc:
        raise ModelError(f"{NEEDS_64_BIT} ({exc})") from None
    except OSError as exc:  # the package is there but its TensorFlow Lite library is not usable
        raise ModelError(f"{NEEDS_64_BIT} ({exc})") from None
    return Path(pymicro_wakeword.__file__).parent / "models"


def manifest_path(model: str) -> Path:
    """A shipped name's manifest, or a custom model's path as given."""
    if model in WAKE_WORD_MODELS:
        return shipped_dir() / f"{model}.json"
    return Path(model)


def parse_manifest(text: str, where: Path) -> ModelSpec:
    """A microWakeWord manifest (JSON) → ModelSpec; ModelError says what is wrong."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{where}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict):
        raise ModelError(f"{where}: a manifest is a JSON object")
    if doc.get("type", "micro") != "micro":
        raise ModelError(f"{where}: type {doc.get('type')!r} is not a microWakeWord model "
                         "(type \"micro\")")
    micro = doc.get("micro")
    model = doc.get("model")
    if not isinstance(micro, dict) or not isinstance(model, str) or not model:
        raise ModelError(f"{where}: a microWakeWord manifest needs \"model\" (the .tflite "
                         "file) and a \"micro\" section")
    cutoff = micro.get("probability_cutoff")
    window = micro.get("sliding_window_size", 5)
    step = micro.get("feature_step_size", 10)
    if not isinstance(cutoff, int | float) or isinstance(cutoff, bool) or not 0 < cutoff < 1:
        raise ModelError(f"{where}: micro.probability_cutoff must be a number between 0 and 1")
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= 100:
        raise ModelError(f"{where}: micro.sliding_window_size must be a whole number 1–100")
    if step != 10:
        raise ModelError(f"{where}: micro.feature_step_size {step!r} is not supported "
                         "(pymicro-wakeword computes 10 ms features)")
    tflite = (where.parent / model).resolve()
    phrase = doc.get("wake_word")
    return ModelSpec(name=Path(model).stem,
                     phrase=phrase if isinstance(phrase, str) and phrase else Path(model).stem,
                     manifest=where, tflite=tflite, cutoff=float(cutoff), window=window,
                     step_ms=step)


def resolve(model: str) -> ModelSpec:
    """The ModelSpec for ``wake_word.model``, with both files checked readable."""
    path = manifest_path(model)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except PermissionError:
        raise ModelError(f"{path}: permission denied (the service reads it as the user "
                         "edged; keep custom models under /etc/edged)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: cannot read: {exc}") from None
    spec = parse_manifest(text, path)
    try:
        with spec.tflite.open("rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise ModelError(f"{spec.tflite}: no such file (named by {path})") from None
    except OSError as exc:
        raise ModelError(f"{spec.tflite}: cannot read: {exc}") from None
    if head[4:8] != b"TFL3":  # every TensorFlow Lite flatbuffer carries this identifier
        raise ModelError(f"{spec.tflite}: not a TensorFlow Lite model")
    return spec
