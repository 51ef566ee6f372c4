"""Background tasks. Each builds nothing itself: it gets `CoreDeps` from the worker context."""

from __future__ import annotations

import logging
from typing import Any

from procrastinate import JobContext, RetryStrategy
from procrastinate.jobs import Job
from procrastinate.retry import RetryDecision

from core.chat import extend_summary
from core.deps import CoreDeps
from core.i18n import t
from core.jobs import INGEST_DOCUMENT, LONG_SUMMARY, SUMMARISE_CONVERSATION
from core.knowledge.ingestion import IngestionGaveUp
from core.knowledge.progress import JobTarget
from core.types import ChatRef, OutboxMessage, Platform
from workers.app import DEFAULT_QUEUE, app

# A worker that has not sent a heartbeat for this long is dead; its jobs go back in line.
STALLED_AFTER_SECONDS = 60

logger = logging.getLogger(__name__)


class UntilIngestionGivesUp(RetryStrategy):
    """Retry with back-off until the ingestion gives up: the document counts its attempts,
    including those of dead workers that never reached the job engine's count."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, IngestionGaveUp):
            return None
        return super().get_retry_decision(exception=exception, job=job)


def deps_of(context: JobContext) -> CoreDeps:
    return context.additional_context["deps"]


@app.task(
    name=SUMMARISE_CONVERSATION,
    queue=DEFAULT_QUEUE,
    pass_context=True,
    retry=RetryStrategy(max_attempts=3, wait=5),
)
async def summarise_conversation(
    context: JobContext,
    *,
    conversation_key: str,
    chat_id: str,
    platform: str,
    is_private: bool,
    locale: str,
) -> None:
    """Folds turns trimmed out of the memory budget into the conversation's running summary."""
    deps = deps_of(context)
    summary, pending = await deps.memory.pending(conversation_key)
    if not pending:
        return
    new_summary = await extend_summary(deps.models.get(), summary=summary, turns=pending)
    await deps.memory.store_summary(conversation_key, new_summary, len(pending))
    logger.info("summarised %d turns of %s", len(pending), conversation_key)
    if not summary:
        # Tell the user once, the first time older messages turn into a summary.
        chat = ChatRef(Platform(platform), chat_id, is_private)
        user_key = conversation_key.split("|", 1)[0]
        await deps.outbox.publish(
            OutboxMessage(chat=chat, text=t("memory_summarised", locale), user_key=user_key)
        )


@app.task(
    name=INGEST_DOCUMENT,
    queue=DEFAULT_QUEUE,
    pass_context=True,
    retry=UntilIngestionGivesUp(exponential_wait=5),
)
async def ingest_document(context: JobContext, *, document_id: str, **target: Any) -> None:
    """Extracts, splits, embeds and indexes a document, reporting progress to its chat.

    `target`: where progress goes, as `JobTarget.as_kwargs` wrote it.
    """
    deps = deps_of(context)
    await deps.knowledge.ingestion.ingest(
        document_id, JobTarget.from_kwargs(**target), deps.models.get()
    )


@app.task(
    name=LONG_SUMMARY,
    queue=DEFAULT_QUEUE,
    pass_context=True,
    retry=RetryStrategy(max_attempts=2, wait=5),
)
async def long_summary(context: JobContext, *, document_id: str, **target: Any) -> None:
    """Writes the detailed summary `/summary long` asked for and sends it to the chat."""
    deps = deps_of(context)
    to = JobTarget.from_kwargs(**target)
    document = await deps.knowledge.documents.get(document_id)
    if document is None:  # forgotten meanwhile
        return
    text = await deps.knowledge.retrieval.long_summary(document, deps.models.get(), to.locale)
    await deps.outbox.publish(OutboxMessage(chat=to.chat, text=text, user_key=to.user_key))


@app.periodic(cron="* * * * *", periodic_id="retry_stalled_jobs")
@app.task(name="retry_stalled_jobs", queue=DEFAULT_QUEUE, queueing_lock="retry_stalled_jobs")
async def retry_stalled_jobs(timestamp: int) -> None:
    """Puts back in line the jobs of workers that died mid-job (killed, crashed, lost power)."""
    await requeue_stalled_jobs()


async def requeue_stalled_jobs() -> int:
    """Retry every job whose worker stopped sending heartbeats; returns how many."""
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS)
    count = 0
    for job in stalled:
        await app.job_manager.retry_job(job)
        logger.warning("retrying job %s (%s) from a dead worker", job.id, job.task_name)
        count += 1
    return count
