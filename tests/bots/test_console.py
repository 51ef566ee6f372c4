"""The terminal chat: `/upload PATH` and `/voice PATH` become attachments; answers print
as they stream, on the same delivery layer as the bots."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bots.console import ConsoleInputError, JobWatch, answer, answer_line, parse_line
from core.i18n import t
from core.service import ChatService
from core.types import ChatRef, Event, Identity, Incoming, Platform
from tests.fakes import EchoChatModel

ME = Identity(Platform.CONSOLE, "alice", display_name="alice")
CHAT = ChatRef(Platform.CONSOLE, "alice", is_private=True)
VOICE_BYTES = b"OggS not really opus"


async def test_voice_sends_a_local_file_as_a_voice_note(tmp_path: Path) -> None:
    path = tmp_path / "question.ogg"
    path.write_bytes(VOICE_BYTES)

    incoming = parse_line(f"/voice '{path}'", ME, CHAT)

    assert (incoming.text, incoming.command) == ("", None)
    [attachment] = incoming.attachments
    # The MIME type is the host's guess (.ogg is unknown without /etc/mime.types).
    assert attachment.file_name == "question.ogg"
    assert (attachment.size_bytes, attachment.platform_file_id) == (len(VOICE_BYTES), str(path))
    # The core measures the duration of what it hears.
    assert (attachment.is_voice, attachment.duration_seconds) == (True, None)
    assert attachment.fetch is not None and await attachment.fetch() == VOICE_BYTES


def test_upload_stays_a_plain_attachment(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Recife is in Pernambuco.")

    [attachment] = parse_line(f"/upload {path}", ME, CHAT).attachments

    assert (attachment.file_name, attachment.is_voice) == ("notes.txt", False)


def test_voice_of_a_missing_file_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.ogg"

    with pytest.raises(ConsoleInputError, match=f"No such file: {missing}"):
        parse_line(f"/voice {missing}", ME, CHAT)


def test_voice_without_a_path_shows_its_usage() -> None:
    with pytest.raises(ConsoleInputError, match=r"Usage: /voice PATH"):
        parse_line("/voice", ME, CHAT)


async def test_a_streamed_answer_prints_once_as_it_grows(service: ChatService) -> None:
    stdout = io.StringIO()

    await answer(service, parse_line("hello there", ME, CHAT), stdout)

    assert stdout.getvalue() == "echo: hello there\n"


async def test_notices_and_answers_print_on_their_own_lines(
    service: ChatService, chat_model: EchoChatModel
) -> None:
    stdout = io.StringIO()
    chat_model.reply = "Line one.\n\nLine two."

    await answer(service, parse_line("/help", ME, CHAT), stdout)
    await answer(service, parse_line("go", ME, CHAT), stdout)

    assert stdout.getvalue() == t("help", "en") + "\nLine one.\n\nLine two.\n"


async def test_bare_lang_answers_instead_of_crashing(service: ChatService) -> None:
    stdout = io.StringIO()

    await answer(service, parse_line("/lang", ME, CHAT), stdout)

    assert "en" in stdout.getvalue() and t("error_generic", "en") not in stdout.getvalue()


async def test_one_failed_line_never_ends_the_chat(
    service: ChatService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stdout = io.StringIO()
    jobs = JobWatch()
    real_handle = ChatService.handle

    def failing_once(self: ChatService, incoming: Incoming) -> AsyncIterator[Event]:
        monkeypatch.setattr(ChatService, "handle", real_handle)
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(ChatService, "handle", failing_once)

    await answer_line(service, "first", ME, CHAT, stdout, jobs)
    await answer_line(service, "second", ME, CHAT, stdout, jobs)

    assert stdout.getvalue() == t("error_generic", "en") + "\necho: second\n"
    assert any(r.levelname == "ERROR" and r.exc_info for r in caplog.records)
