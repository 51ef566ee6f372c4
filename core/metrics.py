"""Prometheus metrics of bots and workers: what they handle, how fast, and what fails.

The collectors are module-level because that is prometheus_client's model: each registers
once in the process's default registry, which `/metrics` serves (launcher.observability).
They are the one exception to "no module-level mutable state" (STYLE.md): they describe
this process only, and Prometheus adds up the processes.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

from core.types import Incoming, Platform

# Chat answers take seconds, not milliseconds: the default buckets stop at 10 s.
ANSWER_BUCKETS_SECONDS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)

MESSAGES = Counter(
    "assistant_messages",
    "Messages the core handled (those meant for the bot), by platform and kind.",
    ["platform", "kind"],
)
ANSWER_FIRST_TOKEN_SECONDS = Histogram(
    "assistant_answer_first_token_seconds",
    "From a chat message reaching the model step to the first visible text of the answer.",
    ["platform"],
    buckets=ANSWER_BUCKETS_SECONDS,
)
ANSWER_SECONDS = Histogram(
    "assistant_answer_seconds",
    "From a chat message reaching the model step to the whole answer (answers that succeed).",
    ["platform"],
    buckets=ANSWER_BUCKETS_SECONDS,
)
TOKENS = Counter(
    "assistant_tokens",
    "Tokens of answered turns (approximate, as counted for /usage), in = prompt, out = answer.",
    ["direction"],
)
MODEL_FAILURES = Counter(
    "assistant_model_failures",
    "Chat answers that failed, by kind (core.llm.ModelFailure).",
    ["kind"],
)
JOBS_STARTED = Counter("assistant_jobs_started", "Job attempts started, by task.", ["task"])
JOBS_FINISHED = Counter(
    "assistant_jobs_finished",
    "Job attempts that ended, by task and outcome (succeeded, failed); retries count again.",
    ["task", "outcome"],
)
OUTBOX_DELIVERIES = Counter(
    "assistant_outbox_deliveries",
    "Outbox messages delivered to a chat, or given up on after every retry (failed).",
    ["platform", "outcome"],
)
# Read from the job engine's table when /metrics is scraped, so every process reports the
# same values: query one of them (or take the max).
JOB_QUEUE_DEPTH = Gauge("assistant_job_queue_depth", "Jobs waiting to run, by queue.", ["queue"])
JOBS_RUNNING = Gauge("assistant_jobs_running", "Jobs running now, by queue.", ["queue"])
JOBS_FAILED = Gauge(
    "assistant_jobs_failed", "Jobs that failed for good (out of retries), by queue.", ["queue"]
)


def platform_label(platform: Platform) -> str:
    """`telegram`, `discord`, `console` or `web`: readable where the identity prefix is terse."""
    return platform.name.lower()


def count_message(incoming: Incoming) -> None:
    """Count one message the bot answers, by what it carries."""
    if incoming.command is not None:
        kind = "command"
    elif any(attachment.is_voice for attachment in incoming.attachments):
        kind = "voice"
    elif incoming.attachments:
        kind = "file"
    else:
        kind = "text"
    MESSAGES.labels(platform_label(incoming.front_end.platform), kind).inc()


def count_tokens(*, input_tokens: int, output_tokens: int) -> None:
    """Count the tokens of one answered turn."""
    TOKENS.labels("in").inc(input_tokens)
    TOKENS.labels("out").inc(output_tokens)


class AnswerTimer:
    """Times one streamed answer: first visible text, then the whole of it."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform_label(platform)
        self._started = time.perf_counter()
        self._is_first = True

    def text_shown(self) -> None:
        """Call as each piece of text goes out; only the first one counts."""
        if self._is_first:
            self._is_first = False
            ANSWER_FIRST_TOKEN_SECONDS.labels(self._platform).observe(self._elapsed())

    def done(self) -> None:
        """The whole answer is ready."""
        ANSWER_SECONDS.labels(self._platform).observe(self._elapsed())

    def _elapsed(self) -> float:
        return time.perf_counter() - self._started
