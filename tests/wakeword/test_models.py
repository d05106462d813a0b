"""Models are checked in words before TensorFlow Lite sees them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edged.wakeword.detector import load
from edged.wakeword.models import ModelError, manifest_path, parse_manifest, resolve


def test_every_shipped_model_resolves_with_its_own_cutoff_and_loads() -> None:
    for name in ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft"):
        spec = resolve(name)
        assert spec.name == name and 0 < spec.cutoff < 1 and spec.tflite.is_file()
        load(name).close()
    assert resolve("okay_nabu").phrase == "Okay Nabu"


def custom_copy(tmp_path: Path, **changes: object) -> Path:
    """The shipped okay_nabu as a custom model in ``tmp_path``, manifest edited."""
    src = manifest_path("okay_nabu")
    doc = json.loads(src.read_text())
    shutil.copy(src.parent / doc["model"], tmp_path / "word.tflite")
    doc["model"] = "word.tflite"
    doc["wake_word"] = "Okay Word"
    doc.update(changes)
    path = tmp_path / "word.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_custom_manifest_path_loads_relative_to_itself(tmp_path: Path) -> None:
    path = custom_copy(tmp_path)
    detector = load(str(path))
    assert detector.spec.phrase == "Okay Word" and detector.spec.tflite == tmp_path / "word.tflite"
    detector.close()


@pytest.mark.parametrize(("changes", "words"), [
    ({"model": "missing.tflite"}, "missing.tflite: no such file"),
    ({"micro": {"probability_cutoff": 2, "feature_step_size": 10}}, "probability_cutoff"),
    ({"micro": {"probability_cutoff": 0.5, "feature_step_size": 20}}, "feature_step_size"),
    ({"type": "openwakeword"}, "not a microWakeWord model"),
])
def test_a_broken_manifest_is_refused_in_words(tmp_path: Path, changes: dict[str, object],
                                               words: str) -> None:
    with pytest.raises(ModelError, match=words):
        resolve(str(custom_copy(tmp_path, **changes)))


def test_a_file_that_is_not_tensorflow_lite_never_reaches_it(tmp_path: Path) -> None:
    path = custom_copy(tmp_path)
    (tmp_path / "word.tflite").write_bytes(b"\x00" * 64)  # TensorFlow Lite would crash on it
    with pytest.raises(ModelError, match="not a TensorFlow Lite model"):
        resolve(str(path))


def test_json_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="line 2"):
        parse_manifest('{\n  "model": }', tmp_path / "x.json")


def test_a_missing_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file"):
        resolve(str(tmp_path / "none.json"))
