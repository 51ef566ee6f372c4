"""Synthetic test speech: espeak-ng reads text to WAV; ffmpeg makes Telegram-like OGG/Opus."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

import pytest

Language = Literal["en", "pt-br"]
AudioFormat = Literal["wav", "ogg"]

# Telegram voice notes are mono Opus at 48 kHz and a low bitrate.
VOICE_NOTE_SAMPLE_RATE_HZ = 48_000
VOICE_NOTE_BITRATE = "32k"
# At espeak-ng's default 175 words per minute Whisper base loses Portuguese words; 120 is clear.
SPEECH_WORDS_PER_MINUTE = 120
TOOL_TIMEOUT_SECONDS = 60

MISSING_TOOLS_REASON = "speech tests need espeak-ng and ffmpeg (apt-get install espeak-ng ffmpeg)"
has_speech_tools = shutil.which("espeak-ng") is not None and shutil.which("ffmpeg") is not None
needs_speech_tools = pytest.mark.skipif(not has_speech_tools, reason=MISSING_TOOLS_REASON)


class SpeechToolsMissing(RuntimeError):
    """Raised outside pytest (benchmarks) where skipping is not an option."""


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=TOOL_TIMEOUT_SECONDS)


def _espeak(text: str, language: Language, wav: Path) -> None:
    _run(["espeak-ng", "-v", language, "-s", str(SPEECH_WORDS_PER_MINUTE), "-w", str(wav), text])


def _to_voice_note(wav: Path, ogg: Path) -> None:
    """Re-encode like a Telegram voice note, so tests read what users really send."""
    _run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
            "-ac", "1", "-ar", str(VOICE_NOTE_SAMPLE_RATE_HZ),
            "-c:a", "libopus", "-b:a", VOICE_NOTE_BITRATE, str(ogg),
        ]
    )  # fmt: skip


def speak(text: str, language: Language, path: Path, fmt: AudioFormat = "wav") -> Path:
    """Write `text` spoken in `language` to `path` as WAV or OGG/Opus and return the path."""
    if not has_speech_tools:
        raise SpeechToolsMissing(MISSING_TOOLS_REASON)
    path = Path(path)
    if fmt == "wav":
        _espeak(text, language, path)
        return path
    with tempfile.TemporaryDirectory() as scratch:
        wav = Path(scratch) / "speech.wav"
        _espeak(text, language, wav)
        _to_voice_note(wav, path)
    return path


def silent_video(path: Path, seconds: float = 1.0) -> Path:
    """A video with no audio stream at all, like a screen recording without sound."""
    if not has_speech_tools:
        raise SpeechToolsMissing(MISSING_TOOLS_REASON)
    _run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"color=c=black:s=64x64:d={seconds}",
            "-an", "-c:v", "mpeg4", str(path),
        ]
    )  # fmt: skip
    return Path(path)
