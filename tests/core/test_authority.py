"""Who may change what: documents in groups belong to their uploader, the group's admins
and the bot's admins; references are literal; empty files are refused; control characters
never reach storage."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.deps import CoreDeps
from core.i18n import t
from core.service import ChatService
from core.types import Command, Incoming
from tests.factories import attachment, collect, in_group, private, reply_text, with_files

NOTES = b"Recife is in Pernambuco, in the northeast of Brazil."


def command(incoming: Incoming, name: str, args: str = "") -> Incoming:
    return replace(incoming, command=Command(name, args), text="")


def as_chat_admin(incoming: Incoming, *, is_admin: bool) -> Incoming:
    async def check() -> bool:
        return is_admin

    return replace(incoming, chat_admin_check=check)


async def uploaded(service: ChatService, incoming: Incoming, name: str = "notes.txt") -> str:
    """Send a file; returns the id of the document it became."""
    events = await collect(service.handle(with_files(incoming, attachment(name, NOTES))))
    (notice,) = events
    return notice.status_key  # type: ignore[union-attr]


async def remaining(deps: CoreDeps) -> list[str]:
    async with deps.pool.connection() as conn:
        cur = await conn.execute("SELECT title FROM documents ORDER BY title")
        return [row[0] for row in await cur.fetchall()]


async def test_a_member_cannot_forget_another_members_group_document(
    service: ChatService, deps: CoreDeps
) -> None:
    document_id = await uploaded(service, in_group("alice", "g1"))

    bruno = as_chat_admin(in_group("bruno", "g1"), is_admin=False)
    answer = reply_text(await collect(service.handle(command(bruno, "forget", document_id[:8]))))

    assert answer == t("forget_not_yours", "en", name="notes.txt")
    assert await remaining(deps) == ["notes.txt"]


@pytest.mark.parametrize("who", ["uploader", "group admin", "bot admin"])
async def test_the_uploader_and_admins_may_forget_a_group_document(
    service: ChatService, deps: CoreDeps, who: str
) -> None:
    document_id = await uploaded(service, in_group("alice", "g1"))
    forgetting = {
        "uploader": in_group("alice", "g1"),
        "group admin": as_chat_admin(in_group("bruno", "g1"), is_admin=True),
        "bot admin": in_group("1", "g1"),  # ADMIN_IDS=tg:1 in the test settings
    }[who]

    answer = reply_text(
        await collect(service.handle(command(forgetting, "forget", document_id[:8])))
    )

    assert answer == t("forget_done", "en", name="notes.txt")
    assert await remaining(deps) == []


async def test_wildcards_in_a_reference_are_plain_characters(
    service: ChatService, deps: CoreDeps
) -> None:
    await uploaded(service, private("alice"))

    for reference in ("_", "%", "n_tes"):
        answer = reply_text(
            await collect(service.handle(command(private("alice"), "forget", reference)))
        )
        assert answer == t("forget_not_found", "en", reference=reference)
    assert await remaining(deps) == ["notes.txt"]


async def test_empty_files_are_refused_not_taken_for_one_another(service: ChatService) -> None:
    for name in ("empty.txt", "empty.pdf"):
        events = await collect(
            service.handle(with_files(private("alice"), attachment(name, b"", "text/plain")))
        )
        (notice,) = events
        assert notice.text == t("doc_failed", "en", name=name, reason=t("reason_empty", "en"))


async def test_a_bot_admin_retries_a_private_document_by_its_id(
    service: ChatService, deps: CoreDeps
) -> None:
    document_id = await uploaded(service, private("alice"))
    await deps.knowledge.documents.set_status(document_id, "failed", error="internal")

    admin = in_group("1", "admins-room")
    answer = reply_text(await collect(service.handle(command(admin, "retry", document_id[:8]))))

    assert answer == t("doc_retrying", "en", name="notes.txt")
    document = await deps.knowledge.documents.get(document_id)
    assert document is not None and document.status == "queued"


async def test_control_characters_never_reach_memory_or_documents(
    service: ChatService, deps: CoreDeps
) -> None:
    events = await collect(service.handle(private("alice", "hello\x00 there\x1b[31m")))
    assert reply_text(events) == "echo: hello there[31m"

    await uploaded(service, private("alice"), name="no\x00tes\x07.txt")
    assert await remaining(deps) == ["notes.txt"]
    conversation = await deps.memory.load(private("alice").conversation_key)
    assert [turn.content for turn in conversation.turns][0] == "hello there[31m"
