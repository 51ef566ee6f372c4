"""The terminal chat's own parsing: `/upload PATH` and `/voice PATH` become attachments."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.console import ConsoleInputError, parse_line
from core.types import ChatRef, Identity, Platform

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
