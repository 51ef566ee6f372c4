"""The web page's API over real Postgres and Redis: sign-in, isolation, uploads, progress."""

from __future__ import annotations

import asyncio
import json

import httpx
from redis.asyncio import Redis

from core.deps import CoreDeps
from core.i18n import t
from core.service import ChatService
from core.types import ChatRef, Command, Identity, Incoming, Platform
from core.web_access import SIGN_IN_ATTEMPTS_PER_WINDOW, WEB_CODE_TTL_SECONDS
from tests.bots.web.conftest import CODE, client, signed_in, sse_events, web_code
from tests.core.test_people import link_accounts
from tests.factories import attachment, collect, private, reply_text, run_jobs, with_files
from tests.knowledge_fixtures import pdf_bytes


async def test_a_code_signs_in_once(web: str, service: ChatService) -> None:
    code = await web_code(service, "ana")
    async with client(web) as page:
        assert (await page.get("/api/me")).status_code == 401
        signed = await page.post("/api/sign-in", json={"code": code.lower()})
        assert signed.status_code == 200
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert (await page.get("/api/me")).json()["identity"] == "cli:ana"
    async with client(web) as other:
        assert (await other.post("/api/sign-in", json={"code": code})).status_code == 400
        assert (await other.get("/api/me")).status_code == 401


async def test_a_code_expires(web: str, service: ChatService, raw_redis: Redis) -> None:
    code = await web_code(service, "ana")
    [key] = [key async for key in raw_redis.scan_iter(match="web-code:*")]
    assert 0 < await raw_redis.ttl(key) <= WEB_CODE_TTL_SECONDS
    await raw_redis.pexpire(key, 1)
    await asyncio.sleep(0.05)
    async with client(web) as page:
        assert (await page.post("/api/sign-in", json={"code": code})).status_code == 400


async def test_wrong_codes_are_refused_then_slowed_down(web: str) -> None:
    async with client(web) as page:
        statuses = [
            (await page.post("/api/sign-in", json={"code": "WRONG234"})).status_code
            for _ in range(SIGN_IN_ATTEMPTS_PER_WINDOW + 1)
        ]
    assert statuses == [400] * SIGN_IN_ATTEMPTS_PER_WINDOW + [429]


async def test_writes_from_other_sites_are_refused(web: str, service: ChatService) -> None:
    code = await web_code(service, "ana")
    async with httpx.AsyncClient(base_url=web) as page:
        evil = {"Origin": "https://evil.example"}
        assert (
            await page.post("/api/sign-in", json={"code": code}, headers=evil)
        ).status_code == 403
        assert (await page.post("/api/sign-in", json={"code": code})).status_code == 403
    async with signed_in(web, service, "bia") as bia:
        refused = await bia.post("/api/chat", json={"text": "hi"}, headers={"Origin": "null"})
        assert refused.status_code == 403


async def test_a_session_sees_only_its_identity(
    web: str, service: ChatService, deps: CoreDeps
) -> None:
    for user, fact in (("ana", "Ana keeps bees."), ("bia", "Bia grows figs.")):
        notes = attachment(f"{user}.txt", fact.encode(), "text/plain")
        await collect(service.handle(with_files(private(user), notes)))
        await collect(service.handle(private(user, f"My secret word is {user}-word")))
    [bia_document] = await deps.knowledge.documents.list(["cli:bia"])

    async with signed_in(web, service, "ana") as ana:
        assert [d["title"] for d in (await ana.get("/api/documents")).json()] == ["ana.txt"]
        assert (await ana.get(f"/api/documents/{bia_document.id}")).status_code == 404
        history = await ana.post("/api/chat", json={"text": "/history"})
        [(kind, shown)] = sse_events(history.text)
        assert kind == "notice" and "ana-word" in shown["text"] and "bia-word" not in shown["text"]
        # Parameters name no one: the session alone says who this is.
        listed = await ana.get("/api/documents", params={"scope": "cli:bia", "user": "cli:bia"})
        assert [d["title"] for d in listed.json()] == ["ana.txt"]
        assert (await ana.get("/api/admin")).status_code == 403


async def test_a_streamed_answer_joins_the_conversation(web: str, service: ChatService) -> None:
    async with signed_in(web, service, "ana") as ana:
        answer = sse_events((await ana.post("/api/chat", json={"text": "hello there"})).text)
    assert [kind for kind, _ in answer] == ["delta", "delta", "delta", "done"]
    assert answer[-1][1] == {"text": "echo: hello there", "sources": []}
    # The same conversation as the private chat it signed in from.
    history = reply_text(await collect(service.handle(private("ana", command="history"))))
    assert "echo: hello there" in history


async def test_an_upload_is_queued_and_its_progress_reaches_the_page(
    web: str, service: ChatService, deps: CoreDeps
) -> None:
    async with (
        signed_in(web, service, "ana") as ana,
        ana.stream("GET", "/api/events") as events,
    ):
        lines = events.aiter_lines()
        assert await anext(lines) == ": listening"
        notice = await _upload_pdf(ana)
        document = await deps.knowledge.documents.get(notice["status_key"])
        assert document is not None and document.status == "queued"
        assert document.scope == "cli:ana"
        await run_jobs(deps)
        progress = await _until_final(lines)
    assert progress[-1]["status_key"] == document.id
    ready = await deps.knowledge.documents.get(document.id)
    assert ready is not None and ready.status == "ready"
    # Progress went to the page, not to the terminal chat the identity belongs to.
    assert await deps.redis.xlen("outbox:cli:ana") == 0


async def test_two_open_pages_of_one_identity_both_see_all_progress(
    web: str, service: ChatService, deps: CoreDeps
) -> None:
    async with (
        signed_in(web, service, "ana") as ana,
        ana.stream("GET", "/api/events") as first,
        ana.stream("GET", "/api/events") as second,
    ):
        pages = [first.aiter_lines(), second.aiter_lines()]
        for lines in pages:
            assert await anext(lines) == ": listening"
        notice = await _upload_pdf(ana)
        await run_jobs(deps)
        seen = [await _until_final(lines) for lines in pages]
    assert seen[0] == seen[1]
    assert seen[0][-1]["status_key"] == notice["status_key"]


async def test_an_oversized_upload_is_refused_plainly(
    web: str, service: ChatService, deps: CoreDeps
) -> None:
    deps.settings.knowledge_max_file_bytes = 2048
    async with signed_in(web, service, "ana") as ana:
        uploaded = await ana.post("/api/documents", params={"name": "big.txt"}, content=b"x" * 5000)
    [notice] = uploaded.json()
    assert notice["is_error"] and notice["text"] == t(
        "doc_too_large", "en", name="big.txt", size="5 KB", limit="2 KB"
    )
    assert await deps.knowledge.documents.list(["cli:ana"]) == []


async def test_admins_see_the_figures(web: str, deps: CoreDeps) -> None:
    admin = Identity(Platform.TELEGRAM, "1")  # ADMIN_IDS of the test settings
    asks = Incoming(admin, ChatRef(Platform.TELEGRAM, "1", is_private=True), "", Command("web"))
    code = CODE.search(reply_text(await collect(ChatService(deps).handle(asks))))
    assert code is not None
    async with client(web) as page:
        await page.post("/api/sign-in", json={"code": code.group(1)})
        figures = (await page.get("/api/admin")).json()
    assert set(figures) == {"stats", "jobs"} and "Documents:" in figures["stats"]


async def test_a_linked_identity_sees_its_persons_documents(web: str, service: ChatService) -> None:
    notes = attachment("notes.txt", b"Recife is in Pernambuco.", "text/plain")
    await collect(service.handle(with_files(private("ana"), notes)))
    await link_accounts(service)  # cli:ana joins tg:77: her documents become the person's
    async with signed_in(web, service, "ana") as ana:
        assert [d["title"] for d in (await ana.get("/api/documents")).json()] == ["notes.txt"]


async def _upload_pdf(page: httpx.AsyncClient) -> dict:
    """Upload a small PDF as the page does; the one notice it answers with."""
    uploaded = await page.post(
        "/api/documents",
        params={"name": "facts.pdf"},
        content=pdf_bytes(),
        headers={"Content-Type": "application/pdf"},
    )
    [notice] = uploaded.json()
    return notice


async def _until_final(lines) -> list[dict]:  # noqa: ANN001
    """Progress events read from an SSE line stream until the job's final one."""
    seen = []
    async with asyncio.timeout(30):
        async for line in lines:
            if line.startswith("data: "):
                seen.append(json.loads(line.removeprefix("data: ")))
                if seen[-1]["final"]:
                    return seen
    raise AssertionError(f"no final progress: {seen}")
