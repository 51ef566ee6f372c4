"""Video and audio through the knowledge base: transcribed once, chunked by time, cited.

Real Whisper (offline base model), real yt-dlp against a loopback server, real Postgres.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web

from core.deps import CoreDeps
from core.service import ChatService
from core.types import Done
from tests.core.rebuild import rebuild_knowledge
from tests.factories import attachment, collect, private, reply_text, run_jobs, with_files
from tests.speech import needs_speech_tools, speak

pytestmark = needs_speech_tools

SPEECH = "The lighthouse keeper said the lamp is cleaned every Monday morning."


@pytest.fixture(scope="module")
def speech_mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("speech")
    return speak(SPEECH, "en", folder / "speech.ogg", fmt="ogg").read_bytes()


@pytest.fixture
async def media_server(speech_mp3: bytes) -> AsyncIterator[str]:
    async def clip(_request: web.Request) -> web.Response:
        return web.Response(body=speech_mp3, content_type="audio/ogg")

    app = web.Application()
    app.router.add_get("/talks/keeper.ogg", clip)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def rows(deps: CoreDeps, sql: str) -> list[tuple]:
    async with deps.pool.connection() as conn:
        return await (await conn.execute(sql)).fetchall()


async def test_an_audio_file_is_transcribed_indexed_and_cited_with_its_time(
    service: ChatService, deps: CoreDeps, speech_mp3: bytes
) -> None:
    ana = private("ana")
    [notice] = await collect(
        service.handle(with_files(ana, attachment("keeper.ogg", speech_mp3, "audio/ogg")))
    )
    assert notice.status_key
    assert await rows(deps, "SELECT queue_name FROM procrastinate_jobs") == [("media",)]
    await run_jobs(deps)

    [(kind, status, chunks)] = await rows(deps, "SELECT kind, status, chunk_count FROM documents")
    assert (kind, status) == ("audio", "ready") and chunks >= 1
    [(origin, text)] = await rows(deps, "SELECT origin, segments::text FROM transcripts")
    assert origin == "whisper" and "lighthouse" in text and "lamp" in text
    events = await collect(service.handle(private("ana", "When is the lamp cleaned?")))
    assert isinstance(events[-1], Done)
    assert "[1] keeper.ogg at 0:00" in events[-1].text


async def test_a_media_link_is_transcribed_once_for_everyone(
    service: ChatService, deps: CoreDeps, media_server: str
) -> None:
    rebuild_knowledge(deps, url_allowed_hosts=["127.0.0.1"])
    link = f"{media_server}/talks/keeper.ogg"
    for user in ("ana", "bia"):
        await collect(service.handle(private(user, f"watch {link}")))
    await run_jobs(deps)

    statuses = await rows(deps, "SELECT scope, kind, status FROM documents ORDER BY scope")
    assert statuses == [("cli:ana", "video", "ready"), ("cli:bia", "video", "ready")]
    assert await rows(deps, "SELECT count(*) FROM transcripts") == [(1,)]
    events = await collect(service.handle(private("bia", "When is the lamp cleaned?")))
    assert f"at 0:00 ({link}#t=0)" in events[-1].text


async def test_media_links_to_private_addresses_are_refused(
    service: ChatService, deps: CoreDeps
) -> None:
    ana = private("ana", "http://127.0.0.1:9/secret/recording.mp3")
    await collect(service.handle(ana))
    await run_jobs(deps)
    [(status, error)] = await rows(deps, "SELECT status, error FROM documents")
    assert (status, error) == ("failed", "private_address")
    assert await rows(deps, "SELECT count(*) FROM transcripts") == [(0,)]


def test_the_speech_helper_made_audio(speech_mp3: bytes, tmp_path: Path) -> None:
    assert len(speech_mp3) > 1000


async def test_a_short_voice_note_is_heard_and_answered_like_text(
    service: ChatService, speech_mp3: bytes
) -> None:
    note = replace(attachment("voice.ogg", speech_mp3, "audio/ogg"), is_voice=True)
    events = await collect(service.handle(with_files(private("ana"), note)))
    heard, *_deltas, answer = events
    assert heard.text.startswith("🎤 I heard: “The lighthouse keeper")
    assert isinstance(answer, Done) and answer.text.startswith("echo: The lighthouse keeper")


async def test_summary_and_transcript_of_a_recording(
    service: ChatService, deps: CoreDeps, speech_mp3: bytes
) -> None:
    ana = private("ana")
    await collect(
        service.handle(with_files(ana, attachment("keeper.ogg", speech_mp3, "audio/ogg")))
    )
    await run_jobs(deps)
    [transcript] = await collect(service.handle(private("ana", command="transcript")))
    assert transcript.text.startswith("📝 Transcript of keeper.ogg (1 line)")
    assert transcript.file_name == "keeper-ogg-transcript.txt"
    assert transcript.file_data.decode().startswith("keeper.ogg\n\n[0:00] The lighthouse keeper")
    summary = reply_text(await collect(service.handle(private("ana", command="summary"))))
    assert summary.startswith("keeper.ogg\n\n") and "•" in summary


async def test_voice_with_no_words_gets_a_clear_reply(service: ChatService) -> None:
    note = replace(attachment("voice.ogg", b"not audio at all", "audio/ogg"), is_voice=True)
    events = await collect(service.handle(with_files(private("ana"), note)))
    assert reply_text(events).startswith("🎤 I couldn't make out any words")
