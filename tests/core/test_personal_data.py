"""/export sends everything kept about a person; /forget all deletes it, and only theirs."""

from __future__ import annotations

import json
from dataclasses import replace

from core.deps import CoreDeps
from core.i18n import t
from core.outbox import stream_key
from core.service import ChatService
from core.types import ChatRef, Command, Incoming, Notice, OutboxMessage, Platform
from tests.factories import attachment, collect, in_group, private, reply_text, with_files

ANA = "cli:ana"


def command(incoming: Incoming, name: str, args: str = "") -> Incoming:
    return replace(incoming, command=Command(name, args), text="")


async def ana_uses_the_bot(service: ChatService, deps: CoreDeps) -> None:
    """Ana chats, sends a private file and one to a group; Bia chats too."""
    await collect(service.handle(private("ana", "my cat is called Tom")))
    await collect(service.handle(with_files(private("ana"), attachment("diary.txt", b"Dear."))))
    group_file = with_files(in_group("ana", "g1"), attachment("menu.txt", b"Lunch."))
    await collect(service.handle(replace(group_file, user=private("ana").user)))
    await collect(service.handle(private("bia", "hello")))
    waiting = OutboxMessage(ChatRef(Platform.TELEGRAM, "9", True), "your file is ready", ANA)
    await deps.outbox.publish(waiting)


async def test_export_holds_conversations_documents_and_usage(
    service: ChatService, deps: CoreDeps
) -> None:
    await ana_uses_the_bot(service, deps)

    [notice] = await collect(service.handle(command(private("ana"), "export")))

    assert isinstance(notice, Notice) and notice.text == t("export_attached", "en")
    data = json.loads(notice.file_data)
    assert data["person"] == ANA and data["identities"] == [ANA]
    [conversation] = data["conversations"]
    assert [turn["content"] for turn in conversation["turns"]] == [
        "my cat is called Tom",
        "echo: my cat is called Tom",
    ]
    assert sorted(d["title"] for d in data["documents"]) == ["diary.txt", "menu.txt"]
    assert data["usage"][0]["messages"] == 1
    assert "bia" not in notice.file_data.decode()


async def test_forget_all_asks_first_then_deletes_only_theirs(
    service: ChatService, deps: CoreDeps
) -> None:
    await ana_uses_the_bot(service, deps)

    asked = reply_text(await collect(service.handle(command(private("ana"), "forget", "all"))))
    assert asked == t("forget_all_confirm", "en", command="/forget all")
    done = reply_text(await collect(service.handle(command(private("ana"), "forget", "all yes"))))

    assert done == t("forget_all_done", "en", documents=1, conversations=1)
    async with deps.pool.connection() as conn:
        cur = await conn.execute("SELECT title, added_by FROM documents")
        assert await cur.fetchall() == [("menu.txt", "")]  # the group keeps it, nameless
        cur = await conn.execute("SELECT identity FROM users ORDER BY identity")
        assert await cur.fetchall() == [("cli:bia",)]
        cur = await conn.execute("SELECT count(*) FROM usage_counters WHERE identity = %s", (ANA,))
        assert await cur.fetchone() == (0,)
    assert (await deps.memory.load(private("ana").conversation_key)).is_empty
    assert not (await deps.memory.load(private("bia").conversation_key)).is_empty
    assert await deps.redis.xlen(stream_key(Platform.TELEGRAM)) == 0
