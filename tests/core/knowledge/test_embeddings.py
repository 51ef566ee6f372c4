"""The local MiniLM on its real weights, and provider wiring without any network."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from langchain_ollama import OllamaEmbeddings
from langchain_openai import OpenAIEmbeddings

from core.knowledge.embeddings import (
    LOCAL_BATCH_SIZE,
    LOCAL_DIMENSIONS,
    MINILM_MODEL_NAME,
    LocalMiniLMEmbeddings,
    _load_tokenizer,
    build_embeddings,
    embeddings_model_name,
    token_counter,
)
from core.settings import ConfigError, EmbeddingsProvider, Settings

TOLERANCE = 1e-5
TICK_SECONDS = 0.001
CAT = "The cat sits on the mat"
KITTEN = "A kitten is resting on a rug"
MARKETS = "Stock markets fell sharply today"
# Deliberately unsorted lengths, so a missed reordering shows up.
TEXTS = [
    "A much longer sentence about retrieval augmented generation over personal documents.",
    "short",
    "",
    MARKETS,
    "Medium length text about cats.",
    "word " * 40,
]


@pytest.fixture(scope="module")
def model() -> LocalMiniLMEmbeddings:
    """One loaded model for the module: loading takes a fraction of a second, but only once."""
    return LocalMiniLMEmbeddings(batch_size=4, threads=2)


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


def settings_for(provider: EmbeddingsProvider, **extra: object) -> Settings:
    return Settings(_env_file=None, embeddings_provider=provider, **extra)  # type: ignore[call-arg]


def test_vectors_have_384_dims_and_unit_norm(model: LocalMiniLMEmbeddings) -> None:
    vectors = np.array(model.embed_documents(TEXTS))
    assert vectors.shape == (len(TEXTS), LOCAL_DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=TOLERANCE)


def test_embedding_is_deterministic(model: LocalMiniLMEmbeddings) -> None:
    assert model.embed_documents(TEXTS) == model.embed_documents(TEXTS)


def test_batches_match_one_by_one_in_the_original_order(model: LocalMiniLMEmbeddings) -> None:
    batched = np.array(model.embed_documents(TEXTS))
    singles = np.array([model.embed_query(text) for text in TEXTS])
    assert np.abs(batched - singles).max() < TOLERANCE


def test_empty_input_and_empty_string(model: LocalMiniLMEmbeddings) -> None:
    assert model.embed_documents([]) == []
    assert len(model.embed_query("")) == LOCAL_DIMENSIONS


def test_close_sentences_score_higher_than_unrelated(model: LocalMiniLMEmbeddings) -> None:
    cat, kitten, markets = model.embed_documents([CAT, KITTEN, MARKETS])
    assert cosine(cat, kitten) > cosine(cat, markets) + 0.3
    assert cosine(cat, kitten) > cosine(kitten, markets) + 0.3


def test_portuguese_works_a_little(model: LocalMiniLMEmbeddings) -> None:
    cat, kitten, markets = model.embed_documents(
        ["O gato está sentado no tapete", "Um gatinho descansa sobre um tapete", MARKETS]
    )
    assert cosine(cat, kitten) > cosine(cat, markets)


def test_long_text_is_truncated_not_rejected(model: LocalMiniLMEmbeddings) -> None:
    assert model.embed_query("word " * 400) == model.embed_query("word " * 1000)


async def test_async_methods_run_concurrently_off_the_loop(model: LocalMiniLMEmbeddings) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(TICK_SECONDS)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    documents, query = await asyncio.gather(
        model.aembed_documents(TEXTS[:5] * 4), model.aembed_query(CAT)
    )
    ticking.cancel()
    assert ticks > 0
    assert documents == model.embed_documents(TEXTS[:5] * 4)
    assert query == model.embed_query(CAT)


async def test_a_slow_embedding_does_not_hold_the_loop(
    model: LocalMiniLMEmbeddings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both calls must be inside the model at the same time to pass the barrier: if they ran
    # in turn (or on the event loop), the first would wait alone and the barrier would break.
    both_inside = threading.Barrier(2, timeout=10)

    def slow_embed(texts: list[str]) -> list[list[float]]:
        both_inside.wait()
        return [[0.0] * LOCAL_DIMENSIONS for _ in texts]

    monkeypatch.setattr(model, "embed_documents", slow_embed)
    await asyncio.gather(model.aembed_documents(["a"]), model.aembed_query("b"))


def test_count_tokens_matches_the_tokenizer(model: LocalMiniLMEmbeddings) -> None:
    text = "Embeddings turn text into vectors; tokenisation happens first."
    expected = len(_load_tokenizer().encode(text, add_special_tokens=False).tokens)
    assert model.count_tokens(text) == expected == token_counter()(text)
    assert model.count_tokens("") == 0
    assert model.count_tokens("word " * 1000) == 1000


def test_token_counter_is_cached() -> None:
    assert token_counter() is token_counter()


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        LocalMiniLMEmbeddings(batch_size=0)
    with pytest.raises(ValueError, match="max_tokens"):
        LocalMiniLMEmbeddings(max_tokens=1000)


def test_local_provider_builds_minilm_by_name() -> None:
    embeddings = build_embeddings(
        settings_for(
            EmbeddingsProvider.LOCAL, embeddings_model=MINILM_MODEL_NAME, embeddings_batch_size=8
        )
    )
    assert isinstance(embeddings, LocalMiniLMEmbeddings)
    assert embeddings.batch_size == LOCAL_BATCH_SIZE  # measured fastest on CPU


def test_local_provider_rejects_other_models() -> None:
    with pytest.raises(ConfigError, match="EMBEDDINGS_MODEL: bge-m3 is not available locally"):
        build_embeddings(settings_for(EmbeddingsProvider.LOCAL, embeddings_model="bge-m3"))


def test_openai_provider_uses_key_and_default_model() -> None:
    embeddings = build_embeddings(settings_for(EmbeddingsProvider.OPENAI, openai_api_key="sk-x"))
    assert isinstance(embeddings, OpenAIEmbeddings)
    assert embeddings.model == "text-embedding-3-small"
    assert embeddings.openai_api_key is not None
    assert embeddings.openai_api_key.get_secret_value() == "sk-x"
    assert embeddings.openai_api_base is None
    assert embeddings.check_embedding_ctx_length is True


def test_openai_compatible_server_skips_tiktoken_and_needs_no_key() -> None:
    embeddings = build_embeddings(
        settings_for(
            EmbeddingsProvider.OPENAI,
            llm_base_url="http://127.0.0.1:8080/v1",
            embeddings_model="bge",
        )
    )
    assert isinstance(embeddings, OpenAIEmbeddings)
    assert embeddings.openai_api_base == "http://127.0.0.1:8080/v1"
    assert embeddings.check_embedding_ctx_length is False
    assert embeddings.model == "bge"


def test_openai_without_key_or_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        build_embeddings(settings_for(EmbeddingsProvider.OPENAI))


def test_ollama_provider_points_at_the_server() -> None:
    embeddings = build_embeddings(
        settings_for(EmbeddingsProvider.OLLAMA, ollama_base_url="http://gpu:11434")
    )
    assert isinstance(embeddings, OllamaEmbeddings)
    assert embeddings.base_url == "http://gpu:11434"
    assert embeddings.model == "nomic-embed-text"


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        (EmbeddingsProvider.LOCAL, "", "local:multilingual-e5-small"),
        (EmbeddingsProvider.LOCAL, MINILM_MODEL_NAME, "local:all-MiniLM-L6-v2-int8"),
        (EmbeddingsProvider.OPENAI, "", "openai:text-embedding-3-small"),
        (EmbeddingsProvider.OPENAI, "text-embedding-3-large", "openai:text-embedding-3-large"),
        (EmbeddingsProvider.OLLAMA, "", "ollama:nomic-embed-text"),
    ],
)
def test_model_name_records_provider_and_model(
    provider: EmbeddingsProvider, model: str, expected: str
) -> None:
    assert embeddings_model_name(settings_for(provider, embeddings_model=model)) == expected
