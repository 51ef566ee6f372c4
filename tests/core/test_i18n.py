"""UI strings: counts take the singular or the plural, in English and Portuguese."""

from __future__ import annotations

import pytest

from core.i18n import file_size, t


@pytest.mark.parametrize(
    ("key", "locale", "one", "many"),
    [
        ("doc_pages", "en", "1 page", "12 pages"),
        ("doc_pages", "pt-BR", "1 página", "12 páginas"),
        ("doc_sections", "en", "1 section", "12 sections"),
        ("doc_sections", "pt-BR", "1 seção", "12 seções"),
        ("doc_passages", "en", "1 passage", "12 passages"),
        ("doc_passages", "pt-BR", "1 trecho", "12 trechos"),
        ("docs_chunks", "en", "1 chunk", "12 chunks"),
        ("history_messages", "pt-BR", "1 mensagem", "12 mensagens"),
        ("transcript_lines", "en", "1 line", "12 lines"),
        ("transcript_lines", "pt-BR", "1 linha", "12 linhas"),
        (
            "history_pending",
            "en",
            "(1 older message is being summarised.)",
            "(12 older messages are being summarised.)",
        ),
        (
            "history_pending",
            "pt-BR",
            "(1 mensagem antiga está sendo resumida.)",
            "(12 mensagens antigas estão sendo resumidas.)",
        ),
    ],
)
def test_counts_take_singular_or_plural(key: str, locale: str, one: str, many: str) -> None:
    assert t(key, locale, count=1) == one
    assert t(key, locale, count=12) == many


def test_zero_reads_as_plural() -> None:
    assert t("doc_passages", "en", count=0) == "0 passages"


def test_file_sizes_read_naturally() -> None:
    assert file_size(5000) == "5 KB"
    assert file_size(25 * 1024 * 1024) == "25.0 MB"
