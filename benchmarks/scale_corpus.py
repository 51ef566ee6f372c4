"""Real text for the retrieval-at-scale benchmark: Debian's package docs, embedded once.

HNSW recall on random vectors is a misleading worst case, so recall is measured on
embeddings of real prose: the READMEs, NEWS files and changelogs under /usr/share/doc,
cut into passage-sized chunks, embedded with the offline MiniLM model (the fastest local
one; every local model has 384 dimensions). Embedding a few thousand chunks takes minutes
on two cores, so the vectors are cached in benchmarks/results/ and reused by later runs.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DOC_ROOT = Path("/usr/share/doc")
CACHE_PATH = Path(__file__).parent / "results" / "retrieval_scale_corpus.npz"
# Prose-like files; copyright files are left out (the same few licences, over and over).
NAME_PATTERN = re.compile(r"^(readme|news|changelog|changes|faq|todo|usage)|\.(md|txt)$", re.I)
WORDS_PER_CHUNK = 80
MIN_WORDS_PER_CHUNK = 30
# A few chunks from many files, so the corpus spans many topics rather than a few changelogs.
CHUNKS_PER_FILE = 6
QUERY_WORDS = 12
MAX_FILE_BYTES = 400_000


@dataclass(frozen=True)
class Corpus:
    """Chunk texts with their vectors, and questions (held-out chunk openings) with theirs."""

    texts: list[str]
    vectors: np.ndarray
    queries: list[str]
    query_vectors: np.ndarray


def _documents() -> list[str]:
    """The text of every prose file under /usr/share/doc, in a stable order."""
    texts = []
    for path in sorted(DOC_ROOT.rglob("*")):
        name = path.name.removesuffix(".gz")
        if not NAME_PATTERN.search(name) or not path.is_file() or path.is_symlink():
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            continue
        try:
            raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            texts.append(raw.decode("utf-8"))
        except (OSError, UnicodeDecodeError, gzip.BadGzipFile):
            continue
    return texts


def _chunks(text: str) -> list[str]:
    """Consecutive runs of about WORDS_PER_CHUNK words, skipping the too-short tail."""
    words = text.split()
    runs = [
        " ".join(words[start : start + WORDS_PER_CHUNK])
        for start in range(0, len(words), WORDS_PER_CHUNK)
    ]
    return [run for run in runs if len(run.split()) >= MIN_WORDS_PER_CHUNK]


def _passages(count: int) -> list[str]:
    """`count` distinct chunks, a few per file, round-robin over the files."""
    seen: set[str] = set()
    per_file = [_chunks(text)[:CHUNKS_PER_FILE] for text in _documents()]
    passages = []
    for round_ in range(CHUNKS_PER_FILE):
        for chunks in per_file:
            if round_ < len(chunks):
                digest = hashlib.sha1(chunks[round_].encode()).hexdigest()
                if digest not in seen:
                    seen.add(digest)
                    passages.append(chunks[round_])
    if len(passages) < count:
        raise RuntimeError(f"only {len(passages)} chunks of real text under {DOC_ROOT}")
    return passages[:count]


def load(*, chunks: int, queries: int) -> Corpus:
    """The cached corpus when it has this shape, else built, embedded and cached."""
    if CACHE_PATH.exists():
        cached = np.load(CACHE_PATH, allow_pickle=False)
        if len(cached["texts"]) == chunks and len(cached["queries"]) == queries:
            return Corpus(
                list(cached["texts"]),
                cached["vectors"],
                list(cached["queries"]),
                cached["query_vectors"],
            )
    from core.knowledge.embeddings import LocalMiniLMEmbeddings

    passages = _passages(chunks + queries)
    texts = passages[:chunks]
    # A question is the opening words of a held-out passage: real wording, not in the index.
    asked = [" ".join(text.split()[:QUERY_WORDS]) for text in passages[chunks:]]
    model = LocalMiniLMEmbeddings(batch_size=1)
    print(f"embedding {len(texts) + len(asked)} chunks of real text (cached afterwards)")
    vectors = np.asarray(model.embed_documents(texts), dtype=np.float32)
    query_vectors = np.asarray(model.embed_documents(asked), dtype=np.float32)
    CACHE_PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        CACHE_PATH,
        texts=np.array(texts),
        vectors=vectors,
        queries=np.array(asked),
        query_vectors=query_vectors,
    )
    return Corpus(texts, vectors, asked, query_vectors)
