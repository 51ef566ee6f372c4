"""/web: a one-time code, given in private chats only, that signs the web page in as the
chat identity that asked; sessions stand for that identity and its private chat."""

from __future__ import annotations

from core.deps import CoreDeps
from core.i18n import t
from core.service import ChatService
from core.types import ChatRef, Platform
from tests.bots.web.conftest import CODE, web_code
from tests.core.test_people import command, on_telegram, say
from tests.factories import collect, in_group, private, reply_text


async def test_a_code_is_given_in_private_chats_only(service: ChatService) -> None:
    said = reply_text(await collect(service.handle(in_group("ana", "g1", command="web"))))
    assert said == t("web_private_only", "en")


async def test_with_a_public_address_the_code_comes_with_a_link(
    service: ChatService, deps: CoreDeps
) -> None:
    deps.settings.web_public_url = "https://chat.example.com"
    said = await say(service, command(on_telegram(), "web"))
    code = CODE.search(said)
    assert code is not None
    assert f"https://chat.example.com/?code={code.group(1)}" in said


async def test_a_session_is_the_identity_that_asked(service: ChatService, deps: CoreDeps) -> None:
    token = await deps.web_access.sign_in(await web_code(service, "ana"))
    assert token is not None
    who = await deps.web_access.identity(token)
    assert who is not None and who.key == "cli:ana"
    incoming = who.incoming("hello")
    assert incoming.conversation_key == private("ana", "hello").conversation_key
    assert incoming.front_end == ChatRef(Platform.WEB, "cli:ana", is_private=True)
    await deps.web_access.sign_out(token)
    assert await deps.web_access.identity(token) is None


async def test_forgetting_everything_signs_every_browser_out(
    service: ChatService, deps: CoreDeps
) -> None:
    tokens = [await deps.web_access.sign_in(await web_code(service, "ana")) for _ in range(2)]
    kept = await deps.web_access.sign_in(await web_code(service, "bia"))
    await say(service, private("ana", command="forget", args="all yes"))
    assert [await deps.web_access.identity(token or "") for token in tokens] == [None, None]
    assert await deps.web_access.identity(kept or "") is not None
