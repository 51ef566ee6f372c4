"""Offline Whisper base (CPU int8) on synthetic speech, with and without the VAD filter.

Quick mode: the one-minute English clip at every core, VAD on (what the bot does) as the
baseline against VAD off. Full mode (`BENCH_FULL=1`): every clip at 1 and 2 threads, VAD
on and off, against 1 thread with VAD on.

Run: `.venv/bin/python -m benchmarks.transcription`. Needs espeak-ng and ffmpeg. Prints a
table and writes benchmarks/results/transcription.json.
"""

from __future__ import annotations

import json
import os
import platform
import re
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import ctranslate2
import faster_whisper

from benchmarks.common import is_full
from benchmarks.machine import cpu_model
from core.media.transcription import Transcriber, offline_model_dir
from tests.speech import Language, speak

# (threads, VAD on); the first is the baseline.
QUICK_CONFIGURATIONS = ((os.cpu_count() or 1, True), (os.cpu_count() or 1, False))
FULL_CONFIGURATIONS = ((1, True), (2, True), (1, False), (2, False))
QUICK_CLIPS = ("en-60s",)
RESULTS_PATH = Path(__file__).parent / "results" / "transcription.json"

# At 120 words per minute (tests/speech.py) the sentence lists below give these lengths.
ENGLISH_SENTENCES = (
    "The lighthouse was painted red before the storm season began.",
    "Fishermen in the harbour waited for the fog to lift every morning.",
    "A small museum near the station keeps old maps of the coast.",
    "Children walk along the beach to collect shells after school.",
    "The ferry leaves twice a day and takes about one hour to cross.",
    "Local bakers sell bread and cakes at the market on Saturdays.",
    "Visitors often climb the hill to watch the sun go down over the sea.",
    "The old keeper wrote a diary about the ships he saw each night.",
    "In winter the wind is strong and the waves break over the wall.",
    "Most of the houses in the village have blue doors and white walls.",
    "A new bridge was built last year to connect the two islands.",
    "The library opens late on Thursdays so that workers can visit.",
)
PORTUGUESE_SENTENCES = (
    "O farol foi pintado de vermelho antes da temporada de chuvas.",
    "Os pescadores esperam no porto até a neblina desaparecer.",
    "Um pequeno museu perto da estação guarda mapas antigos da costa.",
    "As crianças caminham pela praia para recolher conchas depois da escola.",
    "A balsa sai duas vezes por dia e leva uma hora para atravessar.",
    "Os padeiros vendem pão e bolos na feira aos sábados.",
)
CLIPS: tuple[tuple[str, Language, tuple[str, ...]], ...] = (
    ("en-30s", "en", ENGLISH_SENTENCES[:6]),
    ("en-60s", "en", ENGLISH_SENTENCES),
    ("pt-30s", "pt-br", PORTUGUESE_SENTENCES),
)
WARMUP_TEXT = "Hello there."


@dataclass(frozen=True)
class Row:
    """One clip at one thread count."""

    clip: str
    threads: int
    vad: bool
    audio_seconds: float
    load_seconds: float
    transcribe_seconds: float
    real_time_factor: float
    words_recognised_percent: float
    speedup: float


def _words(text: str) -> list[str]:
    """Lower-case words without accents or punctuation, for a fair bag-of-words match."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.findall(r"[a-z0-9']+", plain)


def recognised_percent(spoken: str, heard: str) -> float:
    """Share of the spoken words that come back, each counted at most as often as said."""
    said, got = Counter(_words(spoken)), Counter(_words(heard))
    return 100 * sum((said & got).values()) / sum(said.values())


def machine() -> dict[str, object]:
    """What the numbers were measured on, so results from different hosts are not mixed."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "ctranslate2": ctranslate2.__version__,
        "faster_whisper": faster_whisper.__version__,
        "python": platform.python_version(),
        "model": "whisper base multilingual (offline), cpu int8",
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def load(cache_dir: Path, threads: int, vad: bool, warmup: Path) -> tuple[Transcriber, float]:
    """A model loaded and run once; returns it with the load time (warm-up excluded)."""
    started = time.perf_counter()
    transcriber = Transcriber(
        model="offline-base", device="cpu", cpu_threads=threads, cache_dir=cache_dir, use_vad=vad
    )
    seconds = time.perf_counter() - started
    transcriber.transcribe(warmup, language="en")
    return transcriber, seconds


def measure(
    transcriber: Transcriber,
    load_seconds: float,
    clip: str,
    language: Language,
    audio: Path,
    spoken: str,
) -> tuple[str, float, float, float, float]:
    """Transcribe one clip with its language given, as a bot does for a known locale."""
    started = time.perf_counter()
    transcript = transcriber.transcribe(audio, language=language)
    seconds = time.perf_counter() - started
    percent = recognised_percent(spoken, transcript.text)
    return clip, transcript.duration, load_seconds, seconds, percent


def run(workdir: Path) -> list[Row]:
    """Synthesise the clips once, then time every clip in every configuration."""
    configurations = FULL_CONFIGURATIONS if is_full() else QUICK_CONFIGURATIONS
    offline_model_dir(workdir)
    warmup = speak(WARMUP_TEXT, "en", workdir / "warmup.wav")
    clips = [
        (name, language, speak(" ".join(text), language, workdir / f"{name}.wav"), " ".join(text))
        for name, language, text in CLIPS
        if is_full() or name in QUICK_CLIPS
    ]
    results: dict[tuple[int, bool], list[tuple[str, float, float, float, float]]] = {}
    for threads, vad in configurations:
        transcriber, load_seconds = load(workdir, threads, vad, warmup)
        results[threads, vad] = [measure(transcriber, load_seconds, *clip) for clip in clips]
    baseline = {clip: seconds for clip, _, _, seconds, _ in results[configurations[0]]}
    return [
        Row(
            clip,
            threads,
            vad,
            audio,
            load_s,
            seconds,
            seconds / audio,
            percent,
            baseline[clip] / seconds,
        )
        for (threads, vad), measured in results.items()
        for clip, audio, load_s, seconds, percent in measured
    ]


def print_report(info: dict[str, object], rows: list[Row]) -> None:
    """A plain-text table that pastes into a report as is."""
    print(f"CPU: {info['cpu']} ({info['cores']} cores, load {info['load_average_1min']} at start)")
    print(f"ctranslate2 {info['ctranslate2']}, faster-whisper {info['faster_whisper']}")
    print(f"{info['model']}, beam 5, language given\n")
    header = (
        f"{'clip':<7} | {'threads':>7} | {'VAD':>3} | {'audio s':>7} | {'load s':>6} | "
        f"{'transcribe s':>12} | {'RTF':>5} | {'words %':>7} | {'vs first':>8}"
    )
    print(header)
    print(re.sub(r"[^|]", "-", header).replace("|", "+"))
    for row in rows:
        print(
            f"{row.clip:<7} | {row.threads:>7} | {'on' if row.vad else 'off':>3} | "
            f"{row.audio_seconds:>7.1f} | "
            f"{row.load_seconds:>6.2f} | {row.transcribe_seconds:>12.2f} | "
            f"{row.real_time_factor:>5.2f} | {row.words_recognised_percent:>7.1f} | "
            f"{row.speedup:>7.2f}x"
        )


def write_results(info: dict[str, object], rows: list[Row]) -> None:
    """Keep the numbers as JSON for comparing runs over time."""
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": info, "rows": [asdict(row) for row in rows]}
    RESULTS_PATH.write_text(json.dumps(payload, indent=2) + "\n")


def main() -> None:
    """Synthesise, time, print and save."""
    info = machine()
    with tempfile.TemporaryDirectory(prefix="transcription-bench-") as workdir:
        rows = run(Path(workdir))
    print_report(info, rows)
    write_results(info, rows)


if __name__ == "__main__":
    main()
