"""Ingestion: pages/s for PDF, DOCX and HTML extraction and chunking, then embeddings/s.

Extraction and splitting are the real loaders and splitter on generated documents (the
test fixtures' PDF and Word builders); embedding runs the chunks of the PDF through each
offline model one call per batch size, the batch-1 call as the baseline. A "page" is a PDF
page, or for DOCX and HTML the same text a PDF page holds.

Run: `.venv/bin/python -m benchmarks.ingestion` (`BENCH_FULL=1` for more pages).
"""

from __future__ import annotations

import html
import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import docx

from benchmarks.common import is_full, machine, print_machine, print_table, write_results
from core.knowledge.embeddings import LOCAL_MODEL_NAMES, build_embeddings, token_counter
from core.knowledge.loaders import extract
from core.knowledge.splitting import split_document
from core.settings import Settings
from tests.knowledge_fixtures import fact_pages, pdf_bytes

QUICK_PAGES = 40
FULL_PAGES = 200
QUICK_EMBED_CHUNKS = 32
BATCH_SIZES = (1, 8, 32)
MAX_PAGES = 10_000
ROUNDS = 2  # best of


@dataclass(frozen=True)
class ExtractRow:
    """One format's extraction and chunking."""

    format: str
    pages: int
    chunks: int
    extract_s: float
    split_s: float
    pages_per_second: float


@dataclass(frozen=True)
class EmbedRow:
    """One model at one batch size."""

    model: str
    batch_size: int
    chunks: int
    chunks_per_second: float
    speedup: float


def docx_of(pages: list[str]) -> bytes:
    """A Word file with one heading and paragraph per page."""
    document = docx.Document()
    for number, text in enumerate(pages, start=1):
        document.add_heading(f"Part {number}", level=1)
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def html_of(pages: list[str]) -> bytes:
    """An article page with one section per page, plus navigation the loader drops."""
    sections = "".join(
        f"<h2>Part {n}</h2><p>{html.escape(text)}</p>" for n, text in enumerate(pages, 1)
    )
    return (
        "<html><head><title>Bench</title></head><body><nav>Home | About</nav>"
        f"<article><h1>Bench</h1>{sections}</article><footer>©</footer></body></html>"
    ).encode()


FORMATS: dict[str, tuple[str, str, Callable[[list[str]], bytes]]] = {
    "pdf": ("bench.pdf", "application/pdf", lambda pages: pdf_bytes(pages)),
    "docx": (
        "bench.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        docx_of,
    ),
    "html": ("bench.html", "text/html", html_of),
}


def extraction_rows(pages: list[str]) -> tuple[list[ExtractRow], list[str]]:
    """Time each format; also return the PDF's chunk texts for the embedding part."""
    count = token_counter()
    rows: list[ExtractRow] = []
    pdf_chunks: list[str] = []
    for name, (file_name, mime_type, build) in FORMATS.items():
        data = build(pages)
        started = time.perf_counter()
        extracted = extract(data, file_name=file_name, mime_type=mime_type, max_pages=MAX_PAGES)
        extracted_at = time.perf_counter()
        chunks = split_document(extracted, count_tokens=count)
        split_s = time.perf_counter() - extracted_at
        extract_s = extracted_at - started
        rows.append(
            ExtractRow(
                name,
                len(pages),
                len(chunks),
                extract_s,
                split_s,
                len(pages) / (extract_s + split_s),
            )
        )
        if name == "pdf":
            pdf_chunks = [chunk.text for chunk in chunks]
    return rows, pdf_chunks


def embedding_rows(texts: list[str]) -> list[EmbedRow]:
    """Chunks/s per local model and batch size (best of ROUNDS), against batch size 1."""
    rows: list[EmbedRow] = []
    for model in LOCAL_MODEL_NAMES:
        embeddings = build_embeddings(Settings(_env_file=None, embeddings_model=model))  # type: ignore[call-arg]
        embeddings.embed_documents(texts[:2])  # load the model outside the timing
        seconds = dict.fromkeys(BATCH_SIZES, float("inf"))
        for _ in range(ROUNDS):  # interleaved, so load from other work hits every size
            for size in BATCH_SIZES:
                started = time.perf_counter()
                for start in range(0, len(texts), size):
                    embeddings.embed_documents(texts[start : start + size])
                seconds[size] = min(seconds[size], time.perf_counter() - started)
        rows += [
            EmbedRow(model, size, len(texts), len(texts) / took, seconds[1] / took)
            for size, took in seconds.items()
        ]
    return rows


def main() -> None:
    """Measure, print and save."""
    info = machine()
    pages = fact_pages(FULL_PAGES if is_full() else QUICK_PAGES)
    extracted, chunks = extraction_rows(pages)
    texts = chunks if is_full() else chunks[:QUICK_EMBED_CHUNKS]
    embedded = embedding_rows(texts)
    print_machine(info)
    print("extraction and chunking (before embedding)\n")
    print_table(
        ["format", "pages", "chunks", "extract s", "split s", "pages/s"],
        [
            (r.format, r.pages, r.chunks, r.extract_s, r.split_s, r.pages_per_second)
            for r in extracted
        ],
    )
    print("\noffline embedding of the PDF's chunks, one call per batch\n")
    print_table(
        ["model", "batch", "chunks", "chunks/s", "vs batch 1"],
        [(r.model, r.batch_size, r.chunks, r.chunks_per_second, r.speedup) for r in embedded],
    )
    write_results(
        "ingestion",
        {"extraction": [asdict(r) for r in extracted], "embedding": [asdict(r) for r in embedded]},
    )


if __name__ == "__main__":
    main()
