"""Every failure a user hears about is a ReasonedError, told by one function."""

from __future__ import annotations

import pytest

from core.errors import ReasonedError, explain
from core.knowledge.index import EmbeddingModelChanged
from core.knowledge.loaders import DocumentError
from core.media.captions import CaptionError, parse_captions


def test_a_reason_is_told_with_its_values() -> None:
    error = ReasonedError("too_large", "413 from the Bot API", size="25.0 MB", limit="20.0 MB")
    assert explain(error, "en") == "it is too big (25.0 MB); the limit is 20.0 MB."
    assert explain(error, "pt-BR") == "é grande demais (25.0 MB); o limite é 20.0 MB."


def test_the_detail_fills_messages_that_show_it() -> None:
    assert "(HTTP 503)" in explain(ReasonedError("http_error", "HTTP 503"), "en")
    assert "limit of 5" in explain(DocumentError("too_many_pages", "9 pages", limit=5), "en")


def test_a_reason_without_a_message_reads_as_our_fault() -> None:
    assert explain(ReasonedError("gremlins", "who knows"), "en") == (
        "something went wrong on my side; an admin can retry it."
    )


def test_model_changes_and_bad_captions_belong_to_the_family() -> None:
    changed = EmbeddingModelChanged("local:minilm", "openai:large")
    assert "`assistant reindex`" in explain(changed, "en")
    with pytest.raises(CaptionError) as caught:
        parse_captions("WEBVTT\n\n", fmt="vtt")
    assert isinstance(caught.value, ReasonedError)
    assert explain(caught.value, "en") == "the file is empty."
