"""Citations that show the fact, and honest answers from the embedded model.

A question goes in through `ChatService.handle` over a small Portuguese and a small
English document (real ingestion and retrieval); the name or number that answers it must
appear in the quote under the answer, in `/sources N` and, for the embedded model, in the
quoted answer itself.
"""

from __future__ import annotations

import pytest

from core.deps import CoreDeps
from core.i18n import t
from core.knowledge.answer import best_sentence
from core.service import ChatService
from core.settings import LOCAL_MODEL_NAME, GroundedAnswers, Settings
from core.types import Done
from tests.factories import attachment, collect, private, reply_text, run_jobs, with_files
from tests.fakes import EchoChatModel

GGML_NOTES = """# Bibliotecas de inferência

A biblioteca GGML é escrita em C e roda modelos em CPUs comuns. A biblioteca GGML foi criada
por Georgi Gerganov em 2022. Ela serve de base para o llama.cpp e para o whisper.cpp, que
rodam em notebooks sem placa de vídeo.
"""
# Plainly Portuguese, so the reply (and its headings) are in Portuguese.
QUESTION_PT = "Você sabe quem criou a biblioteca GGML?"
GGML_FACT = "A biblioteca GGML foi criada por Georgi Gerganov em 2022."

LLAMA_NOTES = """# Project notes

The llama.cpp project runs language models on ordinary laptops. The llama.cpp project
started in March 2023, a few weeks after the first open weights appeared. It now supports
dozens of model families.
"""
LLAMA_FACT = (
    "The llama.cpp project started in March 2023, a few weeks after the first open weights "
    "appeared."
)

# Paraphrased facts: the sentence that answers shares no word with its question, and a
# sentence that does share one names something else.
LANGCHAIN_NOTES = """# Frameworks

O LangChain é um framework de código aberto para aplicações com modelos de linguagem.
Desenvolvido por Harrison Chase, foi lançado em outubro de 2022. Muitos projetos usam o
LangChain junto com o Ollama para rodar modelos localmente.
"""
LANGCHAIN_FACT = "Desenvolvido por Harrison Chase, foi lançado em outubro de 2022."
WHISPER_NOTES = """# Speech models

Whisper is a speech recognition model for many languages. Released by OpenAI in September
2022, it was trained on 680,000 hours of audio. Many apps use Whisper together with Home
Assistant.
"""
WHISPER_FACT = "Released by OpenAI in September 2022, it was trained on 680,000 hours of audio."


async def learn(service: ChatService, deps: CoreDeps, name: str, text: str) -> None:
    ana = private("ana")
    await collect(service.handle(with_files(ana, attachment(name, text.encode(), "text/markdown"))))
    await run_jobs(deps)


async def ask(service: ChatService, question: str) -> str:
    events = await collect(service.handle(private("ana", question)))
    assert isinstance(events[-1], Done), events
    return events[-1].text


async def sources(service: ChatService, args: str = "") -> str:
    return reply_text(await collect(service.handle(private("ana", command="sources", args=args))))


async def test_the_quote_under_a_portuguese_answer_names_who(
    service: ChatService, deps: CoreDeps
) -> None:
    await learn(service, deps, "ggml.md", GGML_NOTES)

    answer = await ask(service, QUESTION_PT)

    assert answer.startswith(f"echo: {QUESTION_PT}")
    assert f"Fontes:\n[1] Bibliotecas de inferência: “{GGML_FACT}”" in answer
    listed = await sources(service)
    assert f"“{GGML_FACT}”" in listed
    assert listed.endswith(t("sources_usage", "pt-BR", count=1))
    whole = await sources(service, "1")
    assert whole.startswith("[1] Bibliotecas de inferência\n\n")
    assert "Georgi Gerganov em 2022" in whole and "whisper.cpp" in whole
    assert await sources(service, "7") == t("sources_usage", "pt-BR", count=1)


async def test_the_quote_under_an_english_answer_gives_the_date(
    service: ChatService, deps: CoreDeps
) -> None:
    await learn(service, deps, "llama.md", LLAMA_NOTES)

    answer = await ask(service, "When did the llama.cpp project start?")

    assert f"Sources:\n[1] Project notes: “{LLAMA_FACT}”" in answer
    assert "March 2023" in await sources(service)


@pytest.mark.parametrize(
    ("name", "notes", "question", "fact"),
    [
        ("langchain.md", LANGCHAIN_NOTES, "Você sabe quem criou o LangChain?", LANGCHAIN_FACT),
        ("whisper.md", WHISPER_NOTES, "Who made Whisper?", WHISPER_FACT),
        ("whisper.md", WHISPER_NOTES, "Quando o Whisper saiu?", WHISPER_FACT),
    ],
)
async def test_a_paraphrased_fact_is_quoted_by_what_the_question_asks(
    service: ChatService, deps: CoreDeps, name: str, notes: str, question: str, fact: str
) -> None:
    await learn(service, deps, name, notes)

    answer = await ask(service, question)

    assert f": “{fact}”" in answer
    assert f"“{fact}”" in await sources(service)


def test_a_long_sentence_is_never_cut_before_its_name_or_number() -> None:
    sentence = (
        "Depois de muitos anos de trabalho "
        + "em várias bibliotecas e ferramentas diferentes " * 8
        + "o projeto foi lançado por Georgi Gerganov em 2023 na cidade de Sófia e depois "
        + "ganhou muitos colaboradores no mundo todo."
    )

    quote = best_sentence(sentence, "Quando o projeto foi lançado?")

    assert "Georgi Gerganov em 2023 na cidade de Sófia" in quote
    assert quote.endswith("…") and not quote.endswith(" …")


class TestTheEmbeddedModel:
    """With the embedded model configured, answers from documents are quoted, not generated."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"llm_model": LOCAL_MODEL_NAME})

    async def test_it_quotes_the_sentence_that_answers(
        self, service: ChatService, deps: CoreDeps, chat_model: EchoChatModel
    ) -> None:
        await learn(service, deps, "ggml.md", GGML_NOTES)
        calls_before = len(chat_model.calls)  # ingestion summarised the document

        events = await collect(service.handle(private("ana", QUESTION_PT)))

        *deltas, done = events
        assert isinstance(done, Done)
        assert done.text.startswith(
            f"“{GGML_FACT}” [1]\n\n{t('kb_extractive_note', 'pt-BR')}\n\nFontes:\n[1] "
        )
        assert "".join(d.text for d in deltas) == done.text.split("\n\nFontes:")[0]
        assert len(chat_model.calls) == calls_before
        turns = (await deps.memory.load(private("ana").conversation_key)).turns
        assert [turn.content for turn in turns][-1].startswith(f"“{GGML_FACT}” [1]")
        assert "Georgi Gerganov em 2022" in await sources(service, "1")

    async def test_an_english_question_gets_the_date(
        self, service: ChatService, deps: CoreDeps
    ) -> None:
        await learn(service, deps, "llama.md", LLAMA_NOTES)

        answer = await ask(service, "When did the llama.cpp project start?")

        assert answer.startswith(f"“{LLAMA_FACT}” [1]\n\n")
        assert t("kb_extractive_note", "en") in answer

    async def test_an_operator_may_still_have_it_generate(
        self, service: ChatService, deps: CoreDeps
    ) -> None:
        deps.settings.grounded_answers = GroundedAnswers.GENERATED
        await learn(service, deps, "llama.md", LLAMA_NOTES)

        answer = await ask(service, "When did the llama.cpp project start?")

        assert answer.startswith("echo: When did the llama.cpp project start?")
