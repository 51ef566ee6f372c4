"""Chunks stay inside one page and one section, fit the token budget and overlap."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from tokenizers import Tokenizer

import core.knowledge
from core.knowledge.loaders import ExtractedDocument, Section, extract
from core.knowledge.splitting import ChunkDraft, max_chunk_chars, split_document
from tests import knowledge_fixtures as kf

TOKENIZER_PATH = Path(core.knowledge.__file__).parent / "assets" / "all-MiniLM-L6-v2.tokenizer.json"
CHUNK_TOKENS = 220
OVERLAP_TOKENS = 40
SENTENCE_END = re.compile(r"(?<=[.?!]) ")
VOCABULARY = (
    "harbour lighthouse keeper weather storm tide ship cargo manifest invoice warehouse "
    "pallet forklift schedule inspection safety report quarterly revenue customer supplier "
    "contract delivery route driver maintenance engine crane container berth pilot anchor "
    "relatório reunião manutenção convocação elevador condomínio previsão água sugestões "
    "internationalisation electroencephalography 2024-05-17 R$1.250,00 e-mail ISO-9001"
)
WORDS = tuple(VOCABULARY.split())


def count_words(text: str) -> int:
    """A crude counter that keeps expectations easy to reason about."""
    return len(text.split())


@pytest.fixture(scope="module")
def count_tokens() -> Callable[[str], int]:
    """Word pieces as the embedding model sees them."""
    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    # The shipped file pads and truncates to 128, which would make every count 128.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def prose(sentences: int, *, seed: int, max_words: int = 30) -> str:
    """Paragraphs of sentences of 4 to `max_words` varied words, some with line breaks inside."""
    rng = random.Random(seed)
    paragraphs, paragraph = [], []
    for _ in range(sentences):
        words = rng.choices(WORDS, k=rng.randint(4, max_words))
        paragraph.append(" ".join(words).capitalize() + rng.choice([".", "?", "!", ".\n"]))
        if rng.random() < 0.15:
            paragraphs.append(" ".join(paragraph))
            paragraph = []
    return "\n\n".join([*paragraphs, " ".join(paragraph)]).strip()


def document(*sections: Section, kind: str = "txt") -> ExtractedDocument:
    """An extracted document made of the given sections."""
    return ExtractedDocument("test", kind, list(sections), page_count=None, language="en")


def split(doc: ExtractedDocument, count: Callable[[str], int] = count_words) -> list[ChunkDraft]:
    """split_document with this module's budget."""
    return split_document(
        doc, count_tokens=count, chunk_tokens=CHUNK_TOKENS, overlap_tokens=OVERLAP_TOKENS
    )


def test_chunks_never_cross_pages() -> None:
    pages = [Section(prose(60, seed=page), page=page) for page in range(1, 4)]
    chunks = split(document(*pages, kind="pdf"))
    assert {chunk.page for chunk in chunks} == {1, 2, 3}
    for chunk in chunks:
        assert chunk.text in pages[chunk.page - 1].text
        assert chunk.section is None


def test_chunks_never_cross_sections() -> None:
    sections = [Section(prose(40, seed=n), heading=f"Guide > Part {n}") for n in range(3)]
    chunks = split(document(*sections, kind="markdown"))
    by_heading = {section.heading: section.text for section in sections}
    assert [chunk.section for chunk in chunks] == sorted(chunk.section for chunk in chunks)
    for chunk in chunks:
        assert chunk.text in by_heading[chunk.section]


def test_positions_are_consecutive() -> None:
    sections = [Section(prose(30, seed=n), page=n) for n in range(1, 6)]
    chunks = split(document(*sections))
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))


def test_real_tokenizer_budget_holds(count_tokens: Callable[[str], int]) -> None:
    endless_word = "https://example.com/" + "a1b2c3d4" * 400  # no separator inside
    text = "\n\n".join([prose(200, seed=7), endless_word, "Ok.", prose(50, seed=8)])
    chunks = split(document(Section(text)), count_tokens)
    assert len(chunks) > 10
    assert max(count_tokens(chunk.text) for chunk in chunks) <= CHUNK_TOKENS


def test_neighbours_overlap(count_tokens: Callable[[str], int]) -> None:
    # Sentences shorter than the overlap, so each boundary can share at least one.
    one_paragraph = " ".join(prose(120, seed=3, max_words=12).split())
    chunks = split(document(Section(one_paragraph)), count_tokens)
    assert len(chunks) >= 3
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert SENTENCE_END.split(after.text)[0] in before.text
        assert SENTENCE_END.split(before.text)[-1] in after.text


def test_chunks_break_at_sentence_ends(count_tokens: Callable[[str], int]) -> None:
    one_paragraph = " ".join(prose(120, seed=4).split())
    chunks = split(document(Section(one_paragraph)), count_tokens)
    assert all(chunk.text[-1] in ".?!" for chunk in chunks)


def test_tiny_section_joins_previous_on_same_page() -> None:
    doc = document(
        Section("Long enough text about the harbour and its keepers. " * 5, page=2, heading="A"),
        Section("Phone 555-0100.", page=2, heading="Contact"),
        Section("Also tiny.", page=3, heading="Elsewhere"),
    )
    chunks = split(doc)
    assert [(chunk.page, chunk.section) for chunk in chunks] == [(2, "A"), (3, "Elsewhere")]
    assert chunks[0].text.endswith("keepers.\n\nContact\nPhone 555-0100.")
    assert [chunk.position for chunk in chunks] == [0, 1]


def test_sizeable_sections_stay_apart() -> None:
    doc = document(
        Section("First section body. " * 10, heading="One"),
        Section("Second section body. " * 10, heading="Two"),
    )
    assert [chunk.section for chunk in split(doc)] == ["One", "Two"]


def test_extracted_pdf_keeps_fact_pages(count_tokens: Callable[[str], int]) -> None:
    extracted = extract(kf.pdf_bytes(), file_name="harbour.pdf", mime_type="", max_pages=10)
    chunks = split(extracted, count_tokens)
    [chunk] = [chunk for chunk in chunks if kf.PDF_FACTS[2] in chunk.text]
    assert chunk.page == 3


def test_300_pages_split_page_by_page(count_tokens: Callable[[str], int]) -> None:
    # About 350 words a page, as in a dense report. Speed is a benchmark's job, not a test's.
    pages = [Section(prose(20, seed=page), page=page) for page in range(1, 301)]
    chunks = split(document(*pages, kind="pdf"), count_tokens)
    assert {chunk.page for chunk in chunks} == set(range(1, 301))
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))


def test_an_endless_word_is_cut_to_the_character_bound(
    count_tokens: Callable[[str], int],
) -> None:
    word = "x" * 2_000_000
    document = ExtractedDocument(
        "Run", "txt", [Section(f"Before it. {word} After it.")], page_count=None, language=None
    )
    chunks = split_document(document, count_tokens=count_tokens)
    assert max(len(chunk.text) for chunk in chunks) <= max_chunk_chars()
    assert sum(chunk.text.count("x") for chunk in chunks) >= len(word)
    assert chunks[0].text.startswith("Before it.") and chunks[-1].text.endswith("After it.")
