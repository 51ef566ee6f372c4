"""Local MiniLM throughput at several batch sizes, against batch size 1 in the same run.

Run: `.venv/bin/python -m benchmarks.embeddings [--texts N] [--threads T]`. Prints a table
and writes benchmarks/results/embeddings.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import onnxruntime as ort

from benchmarks.machine import cpu_model
from core.knowledge.embeddings import MINILM_MODEL_NAME, LocalMiniLMEmbeddings, token_counter

# About 180 tokens per text cost ~0.1 s each on 2 cores: 64 texts, three batch sizes
# and two rounds stay under a minute there.
DEFAULT_TEXTS = 64
DEFAULT_ROUNDS = 2
BATCH_SIZES = (1, 16, 64)
BASELINE_BATCH_SIZE = 1
MIN_WORDS_PER_PARAGRAPH = 110
MAX_WORDS_PER_PARAGRAPH = 190
SEED = 20240607
WARMUP_TEXTS = 4
RESULTS_PATH = Path(__file__).parent / "results" / "embeddings.json"

SUBJECTS = (
    "The quarterly report",
    "Our support team",
    "The new database schema",
    "Each customer invoice",
    "The onboarding guide",
    "A short video lecture",
    "The research group",
    "This contract clause",
    "The mobile application",
    "The city council",
)
VERBS = (
    "describes",
    "summarises",
    "depends on",
    "changes",
    "explains",
    "reviews",
    "replaces",
    "compares",
)
OBJECTS = (
    "the retention policy for archived documents",
    "how embeddings are stored next to each chunk",
    "the cost of running models on local hardware",
    "the steps needed to reset a forgotten password",
    "recent changes in the tax rules for small companies",
    "the results of last month's user survey",
    "why latency grows when the queue is full",
    "the schedule for the next product release",
    "the difference between full-text and vector search",
    "a plan to migrate the service to a new region",
)
TAILS = (
    "before the end of the year.",
    "in more detail than the previous version.",
    "with several examples from real projects.",
    "so that new members can follow along.",
    "while keeping the old behaviour available.",
    "and lists the open questions at the end.",
)


@dataclass(frozen=True)
class Row:
    """One batch size's measurement."""

    batch_size: int
    texts_per_second: float
    ms_per_text: float
    total_seconds: float
    speedup: float


def make_paragraphs(count: int, seed: int = SEED) -> list[str]:
    """Deterministic, document-like paragraphs of varied length, so runs compare."""
    rng = random.Random(seed)
    return [_paragraph(rng) for _ in range(count)]


def _paragraph(rng: random.Random) -> str:
    """Join template sentences until the paragraph reaches a random target length."""
    target_words = rng.randint(MIN_WORDS_PER_PARAGRAPH, MAX_WORDS_PER_PARAGRAPH)
    sentences: list[str] = []
    words = 0
    while words < target_words:
        parts = (rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(TAILS))
        sentence = " ".join(parts)
        sentences.append(sentence)
        words += len(sentence.split())
    return " ".join(sentences)


def machine(threads: int) -> dict[str, object]:
    """What the numbers were measured on, so results from different hosts are not mixed."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
        "model": MINILM_MODEL_NAME,
        # Other processes skew the numbers; a load near the core count says so.
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def warm_model(texts: list[str], batch_size: int, threads: int) -> LocalMiniLMEmbeddings:
    """A model already loaded and run once, so timings leave out start-up."""
    model = LocalMiniLMEmbeddings(batch_size=batch_size, threads=threads)
    model.embed_documents(texts[:WARMUP_TEXTS])
    return model


def seconds_to_embed(model: LocalMiniLMEmbeddings, texts: list[str]) -> float:
    """Wall-clock seconds for one pass over all texts."""
    started = time.perf_counter()
    model.embed_documents(texts)
    return time.perf_counter() - started


def rows_for(texts: list[str], threads: int, rounds: int) -> list[Row]:
    """Best of interleaved rounds per batch size, so load from other processes hits all alike."""
    models = {size: warm_model(texts, size, threads) for size in BATCH_SIZES}
    samples: dict[int, list[float]] = {size: [] for size in BATCH_SIZES}
    for _ in range(rounds):
        for size, model in models.items():
            samples[size].append(seconds_to_embed(model, texts))
    baseline = min(samples[BASELINE_BATCH_SIZE])
    return [_row(size, len(texts), min(times), baseline) for size, times in samples.items()]


def _row(batch_size: int, count: int, total: float, baseline: float) -> Row:
    """Rates and speed-up against the batch-size-1 run of the same texts."""
    return Row(
        batch_size=batch_size,
        texts_per_second=count / total,
        ms_per_text=1000 * total / count,
        total_seconds=total,
        speedup=baseline / total,
    )


def print_report(info: dict[str, object], texts: list[str], rows: list[Row], rounds: int) -> None:
    """A plain-text table that pastes into a report as is."""
    count = token_counter()
    mean_tokens = sum(count(text) for text in texts) / len(texts)
    print(
        f"CPU: {info['cpu']} ({info['cores']} cores, {info['threads']} threads, "
        f"load {info['load_average_1min']} at start)"
    )
    print(f"onnxruntime {info['onnxruntime']}, Python {info['python']}, {info['model']}")
    print(f"{len(texts)} texts, {mean_tokens:.0f} tokens on average, best of {rounds} rounds\n")
    print(f"{'batch':>5} | {'texts/s':>8} | {'ms/text':>8} | {'total s':>8} | {'vs batch 1':>10}")
    print(f"{'-' * 5}-+-{'-' * 8}-+-{'-' * 8}-+-{'-' * 8}-+-{'-' * 10}")
    for row in rows:
        print(
            f"{row.batch_size:>5} | {row.texts_per_second:>8.1f} | {row.ms_per_text:>8.1f} | "
            f"{row.total_seconds:>8.2f} | {row.speedup:>9.2f}x"
        )


def write_results(info: dict[str, object], texts: list[str], rows: list[Row], rounds: int) -> None:
    """Keep the numbers as JSON for comparing runs over time."""
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": info,
        "texts": len(texts),
        "rounds": rounds,
        "rows": [asdict(row) for row in rows],
    }
    RESULTS_PATH.write_text(json.dumps(payload, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Generate the texts, time each batch size, print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=DEFAULT_TEXTS, help="paragraphs to embed")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="best of N passes")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="ONNX threads")
    args = parser.parse_args(argv)
    texts = make_paragraphs(args.texts)
    info = machine(args.threads)
    rows = rows_for(texts, args.threads, args.rounds)
    print_report(info, texts, rows, args.rounds)
    write_results(info, texts, rows, args.rounds)
    print(f"\nwrote {RESULTS_PATH}")


if __name__ == "__main__":
    main()
