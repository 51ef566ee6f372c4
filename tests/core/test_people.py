"""/link: one person on several platforms shares one memory, one set of private documents
and one quota; only someone holding both accounts can link them."""

from __future__ import annotations

import json
from dataclasses import replace

from core.deps import CoreDeps
from core.i18n import t
from core.service import ChatService
from core.types import ChatRef, Command, Identity, Incoming, Platform
from tests.factories import attachment, collect, in_group, private, reply_text, with_files

NOTES = b"Recife is in Pernambuco."


def on_telegram(text: str = "") -> Incoming:
    """Ana in her private chat on Telegram (tg:77)."""
    identity = Identity(Platform.TELEGRAM, "77", display_name="Ana")
    return Incoming(identity, ChatRef(Platform.TELEGRAM, "77", is_private=True), text)


def on_terminal(text: str = "") -> Incoming:
    return private("ana", text)  # cli:ana


def command(incoming: Incoming, name: str, args: str = "") -> Incoming:
    return replace(incoming, command=Command(name, args), text="")


async def say(service: ChatService, incoming: Incoming) -> str:
    return reply_text(await collect(service.handle(incoming)))


async def link_accounts(service: ChatService) -> str:
    """Ana asks for a code on Telegram and uses it in the terminal."""
    offer = await say(service, command(on_telegram(), "link"))
    code = offer.split("Your code: ")[1].split(".")[0]
    return await say(service, command(on_terminal(), "link", code))


async def test_linked_accounts_share_memory_documents_and_quota(
    service: ChatService, deps: CoreDeps
) -> None:
    await say(service, on_telegram("my cat is called Tom"))
    await collect(service.handle(with_files(on_terminal(), attachment("notes.txt", NOTES))))

    linked = await link_accounts(service)

    assert linked == t("link_done", "en", person="tg:77")
    history = await say(service, command(on_terminal(), "history"))
    assert "my cat is called Tom" in history, "the Telegram conversation goes on here"
    docs_on_telegram = await say(service, command(on_telegram(), "docs"))
    assert "notes.txt" in docs_on_telegram, "the terminal's private file is the person's"
    await say(service, on_terminal("one more question"))
    usage = await deps.users.usage_today("tg:77")
    assert usage.messages == 2, "answers on both accounts count for one person"


async def test_a_code_works_once_and_only_in_private(service: ChatService, deps: CoreDeps) -> None:
    offer = await say(service, command(on_telegram(), "link"))
    code = offer.split("Your code: ")[1].split(".")[0]

    in_a_group = await say(service, command(in_group("bruno", "g1"), "link", code))
    assert in_a_group == t("link_private_only", "en")
    assert await say(service, command(private("bruno"), "link", code)) == t(
        "link_done", "en", person="tg:77"
    )
    assert await say(service, command(on_terminal(), "link", code)) == t("link_bad_code", "en")
    assert await say(service, command(on_terminal(), "link", "12345678")) == t(
        "link_bad_code", "en"
    )


async def test_export_and_forget_all_cover_every_linked_account(
    service: ChatService, deps: CoreDeps
) -> None:
    await say(service, on_telegram("hello from Telegram"))
    await link_accounts(service)
    await say(service, on_terminal("hello from the terminal"))

    [notice] = await collect(service.handle(command(on_terminal(), "export")))
    data = json.loads(notice.file_data)
    assert data["identities"] == ["cli:ana", "tg:77"]
    said = [turn["content"] for c in data["conversations"] for turn in c["turns"]]
    assert "hello from Telegram" in said and "hello from the terminal" in said

    await say(service, command(on_telegram(), "forget", "all yes"))
    async with deps.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM people_links")
        assert await cur.fetchone() == (0,)
        cur = await conn.execute("SELECT identity FROM users")
        assert await cur.fetchall() == []
