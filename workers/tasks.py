"""Background tasks. Each builds nothing itself: it gets `CoreDeps` from the worker context."""

from __future__ import annotations

import logging

from procrastinate import JobContext, RetryStrategy

from core.chat import extend_summary
from core.deps import CoreDeps
from core.i18n import t
from core.jobs import SUMMARISE_CONVERSATION
from core.types import ChatRef, OutboxMessage, Platform
from workers.app import DEFAULT_QUEUE, app

logger = logging.getLogger(__name__)


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
