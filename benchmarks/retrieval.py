"""Retrieval hit rate of each offline embedding model, side by side: vector, keyword, hybrid.

Builds a small corpus of documents with planted facts buried in filler text, indexes it with
the real pipeline (loaders, splitter, each local embedding model, pgvector on an embedded
Postgres), then asks each fact's question in English and in Portuguese, paraphrased so the
words differ from the document's. A second, harder set asks questions that share no content
word with their answer, in all four directions between English and Portuguese, each
language's documents in a scope of their own. Vector-only and keyword-only search are the
baselines for the hybrid (RRF) search the bot uses. Query embedding time and indexing
throughput come from the same run.

Run: `.venv/bin/python -m benchmarks.retrieval`. Prints a table and writes
benchmarks/results/retrieval.json.
"""

from __future__ import annotations

import asyncio
import json
import platform
import random
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import cast

import psycopg
from psycopg_pool import AsyncConnectionPool

from benchmarks.machine import cpu_model
from core.knowledge.documents import DocumentStore
from core.knowledge.embeddings import (
    LOCAL_MODEL_NAMES,
    build_embeddings,
    embeddings_model_name,
    token_counter,
)
from core.knowledge.index import ChunkIndex, is_exact_better
from core.knowledge.loaders import extract
from core.knowledge.splitting import split_document
from core.settings import Settings
from launcher.migrate import migrate
from launcher.services import start_postgres

TOP_K = 5
SEED = 7
FILLER_PARAGRAPHS_PER_FACT = 5
RESULTS_PATH = Path(__file__).parent / "results" / "retrieval.json"
SCOPE = "bench:user"
PARAPHRASE_SCOPES = {"en": "bench:paraphrase-en", "pt": "bench:paraphrase-pt"}
PARAPHRASE_FILLER_PER_FACT = 2
PARAPHRASE_DOCUMENTS_PER_LANGUAGE = 3

# (fact planted in a document, English question, Portuguese question, words that prove a hit)
FACTS = [
    (
        "The Orla lighthouse was painted red in 1911 after a storm damaged it.",
        "When did the lighthouse get its red paint?",
        "Em que ano o farol foi pintado de vermelho?",
        "1911",
    ),
    (
        "Access to the north archive requires the code 4417 at the main door.",
        "What code opens the north archive?",
        "Qual é o código para entrar no arquivo norte?",
        "4417",
    ),
    (
        "The harbour office prints new tide tables every Thursday morning.",
        "On which day are tide tables printed?",
        "Em que dia as tábuas de maré são impressas?",
        "Thursday",
    ),
    (
        "Our support line is staffed from 8 am to 6 pm on weekdays only.",
        "What are the opening hours of customer support?",
        "Qual o horário de atendimento do suporte?",
        "8 am",
    ),
    (
        "Refunds are paid back to the original card within 14 days of approval.",
        "How long does it take to get my money back?",
        "Quanto tempo demora o reembolso?",
        "14 days",
    ),
    (
        "The Recife office moved to Rua da Aurora 325 in March 2023.",
        "Where is the Recife office located now?",
        "Qual é o endereço do escritório de Recife?",
        "Aurora 325",
    ),
    (
        "Employees receive 30 days of paid vacation per year after the first year.",
        "How much paid leave do staff get annually?",
        "Quantos dias de férias remuneradas os funcionários têm?",
        "30 days",
    ),
    (
        "The backup server keeps nightly snapshots for 90 days before deleting them.",
        "How long are the nightly backups retained?",
        "Por quanto tempo os backups são guardados?",
        "90 days",
    ),
    (
        "Passwords must have at least 12 characters including one digit.",
        "What is the minimum password length?",
        "Qual o tamanho mínimo da senha?",
        "12 characters",
    ),
    (
        "The river ferry costs 4 reais per passenger and 9 reais per bicycle.",
        "How much is the ferry fare for a bike?",
        "Quanto custa levar uma bicicleta na balsa?",
        "9 reais",
    ),
    (
        "Professor Helena Duarte teaches the course on neural networks.",
        "Who is the instructor for the neural network class?",
        "Quem ensina a disciplina de redes neurais?",
        "Helena Duarte",
    ),
    (
        "The warehouse in Campinas can store up to 12,000 pallets.",
        "What is the storage capacity of the Campinas warehouse?",
        "Quantos paletes cabem no armazém de Campinas?",
        "12,000",
    ),
    (
        "Invoices are issued on the 5th working day of each month.",
        "When are invoices sent out each month?",
        "Quando as faturas são emitidas?",
        "5th working day",
    ),
    (
        "The city library lends up to six books for three weeks at a time.",
        "How many books can I borrow from the library?",
        "Quantos livros posso pegar emprestado na biblioteca?",
        "six books",
    ),
    (
        "Solar panels on the roof produce about 42 megawatt-hours a year.",
        "How much energy do the rooftop panels generate?",
        "Quanta energia os painéis solares produzem por ano?",
        "42 megawatt",
    ),
    (
        "The annual company retreat takes place in Gramado every October.",
        "Where is the yearly staff retreat held?",
        "Onde acontece o encontro anual da empresa?",
        "Gramado",
    ),
]

# The same facts as written in Portuguese documents (a Portuguese course text, say).
FACTS_PT = [
    "O farol de Orla foi pintado de vermelho em 1911 depois que uma tempestade o danificou.",
    "O acesso ao arquivo norte exige o código 4417 na porta principal.",
    "A capitania imprime novas tábuas de maré toda quinta-feira de manhã.",
    "O suporte atende das 8 às 18 horas, somente em dias úteis.",
    "Os reembolsos voltam para o cartão original em até 14 dias após a aprovação.",
    "O escritório de Recife mudou para a Rua da Aurora 325 em março de 2023.",
    "Os funcionários têm 30 dias de férias remuneradas por ano após o primeiro ano.",
    "O servidor de backup guarda cópias noturnas por 90 dias antes de apagá-las.",
    "As senhas devem ter pelo menos 12 caracteres, incluindo um dígito.",
    "A balsa do rio custa 4 reais por passageiro e 9 reais por bicicleta.",
    "A professora Helena Duarte ministra a disciplina de redes neurais.",
    "O armazém de Campinas comporta até 12.000 paletes.",
    "As faturas são emitidas no 5º dia útil de cada mês.",
    "A biblioteca municipal empresta até seis livros por três semanas.",
    "Os painéis solares do telhado produzem cerca de 42 megawatts-hora por ano.",
    "O encontro anual da empresa acontece em Gramado todo mês de outubro.",
]
PROOFS_PT = [
    "1911",
    "4417",
    "quinta-feira",
    "8 às 18",
    "14 dias",
    "Aurora 325",
    "30 dias",
    "90 dias",
    "12 caracteres",
    "9 reais",
    "Helena Duarte",
    "12.000",
    "5º dia",
    "seis livros",
    "42 megawatts",
    "Gramado",
]
FILLER_SENTENCES_PT = [
    "O comitê analisou várias propostas antes do fim do trimestre.",
    "A maioria dos visitantes chega à tarde, quando o tempo está mais ameno.",
    "Um novo cronograma foi discutido, mas nenhuma decisão ficou registrada na ata.",
    "Vários departamentos compartilharam suas anotações sobre o planejamento.",
    "O relatório lista os principais riscos e os responsáveis por cada um.",
    "A manutenção costuma ser planejada com antecedência para evitar transtornos.",
    "As respostas da última pesquisa foram positivas sobre o novo layout.",
    "A equipe concordou em retomar o assunto na próxima reunião mensal.",
    "Os registros históricos mostram um aumento constante no número de pedidos.",
    "As sessões de treinamento são gravadas e ficam disponíveis na intranet.",
]

FILLER_SENTENCES = [
    "The committee reviewed several proposals before the end of the quarter.",
    "Most visitors arrive in the afternoon, when the weather is milder.",
    "A new schedule was discussed but no decision was recorded in the minutes.",
    "Several departments shared their notes on the planning process.",
    "The report lists the main risks and the people responsible for them.",
    "Maintenance work is usually planned well in advance to avoid disruption.",
    "Feedback from the last survey was mostly positive about the new layout.",
    "The team agreed to revisit the topic at the next monthly meeting.",
    "Historical records show a steady increase in the number of requests.",
    "Training sessions are recorded and made available on the intranet.",
]


# Questions sharing no content word with their answer: (English document sentence,
# Portuguese document sentence, English question, Portuguese question, English proof,
# Portuguese proof). Only meaning links them, so full-text search cannot help.
PARAPHRASES = [
    (
        "Developed by Harrison Chase, the open-source toolkit for building apps on large "
        "language models appeared in October 2022.",
        "Desenvolvido por Harrison Chase, o kit de código aberto para aplicações com grandes "
        "modelos de linguagem surgiu em outubro de 2022.",
        "Who created LangChain?",
        "Quem criou o LangChain?",
        "Harrison Chase",
        "Harrison Chase",
    ),
    (
        "The clinic opens its doors at 7:30 and closes at noon on Saturdays.",
        "A clínica abre as portas às 7:30 e fecha ao meio-dia aos sábados.",
        "What time does the medical office start seeing patients at the weekend?",
        "A que horas o consultório começa a atender no fim de semana?",
        "7:30",
        "7:30",
    ),
    (
        "Marta Ribeiro was appointed chief financial officer in 2021.",
        "Marta Ribeiro foi nomeada diretora financeira em 2021.",
        "Who looks after the company's money?",
        "Quem cuida do dinheiro da empresa?",
        "Marta Ribeiro",
        "Marta Ribeiro",
    ),
    (
        "Dogs and cats are not allowed inside the dormitory buildings.",
        "Cães e gatos não são permitidos dentro dos alojamentos.",
        "Can I bring my pet to student housing?",
        "Posso levar meu bicho de estimação para a residência estudantil?",
        "Dogs and cats",
        "Cães e gatos",
    ),
    (
        "The parking garage charges 6 reais per hour after the first free hour.",
        "O estacionamento cobra 6 reais por hora após a primeira hora grátis.",
        "How much does it cost to leave my car in the building?",
        "Quanto pago para deixar o carro no prédio?",
        "6 reais",
        "6 reais",
    ),
    (
        "Lunch is served in the cafeteria between 11:45 and 14:00.",
        "O almoço é servido no refeitório entre 11:45 e 14:00.",
        "When can I eat at midday?",
        "Em que horário posso comer ao meio-dia?",
        "11:45",
        "11:45",
    ),
    (
        "Our founder, Paulo Mendes, opened the first bakery in Olinda in 1987.",
        "Nosso fundador, Paulo Mendes, abriu a primeira padaria em Olinda em 1987.",
        "Who started the business?",
        "Quem começou o negócio?",
        "Paulo Mendes",
        "Paulo Mendes",
    ),
    (
        "Flights to Lisbon depart from gate 22 every Tuesday.",
        "Os voos para Lisboa partem do portão 22 toda terça-feira.",
        "Where do I board the plane to Portugal?",
        "Onde embarco no avião para Portugal?",
        "gate 22",
        "portão 22",
    ),
    (
        "Broken laptops are repaired by the IT desk on the third floor.",
        "Notebooks quebrados são consertados pela equipe de TI no terceiro andar.",
        "Who fixes a damaged portable computer?",
        "Quem arruma um computador portátil com defeito?",
        "third floor",
        "terceiro andar",
    ),
    (
        "Vaccination against the flu is free for anyone over 60.",
        "A vacina contra a gripe é gratuita para maiores de 60 anos.",
        "Do elderly people pay for the influenza shot?",
        "Idosos pagam pela imunização contra influenza?",
        "over 60",
        "60 anos",
    ),
    (
        "The swimming pool is closed for maintenance during the whole of January.",
        "A piscina fica fechada para manutenção durante todo o mês de janeiro.",
        "In which month is the aquatic centre shut?",
        "Em que período o centro aquático não funciona?",
        "January",
        "janeiro",
    ),
    (
        "Packages heavier than 30 kilograms need a freight contract.",
        "Encomendas com mais de 30 quilos precisam de um contrato de frete.",
        "What do I need to ship a very heavy box?",
        "O que preciso para enviar uma caixa muito pesada?",
        "freight",
        "frete",
    ),
]


def build_documents(
    rng: random.Random,
    facts_by_language: dict[str, list[str]],
    *,
    per_language: int,
    filler_per_fact: int,
    prefix: str,
) -> dict[str, list[tuple[str, bytes]]]:
    """Markdown handbooks per language, facts buried among filler paragraphs."""
    fillers = {"en": FILLER_SENTENCES, "pt": FILLER_SENTENCES_PT}
    corpus = {}
    for language, facts in facts_by_language.items():
        filler = fillers[language]
        texts: list[list[str]] = [[f"# Handbook {language} {n + 1}\n"] for n in range(per_language)]
        for index, fact in enumerate(facts):
            paragraphs = texts[index % per_language]
            for _ in range(filler_per_fact):
                paragraphs.append(" ".join(rng.sample(filler, 4)))
            paragraphs.append(f"{' '.join(rng.sample(filler, 2))} {fact}")
        corpus[language] = [
            (f"{prefix}-{language}-{n + 1}.md", "\n\n".join(p).encode())
            for n, p in enumerate(texts)
        ]
    return corpus


async def index_corpus(
    documents: DocumentStore, index: ChunkIndex, scope: str, corpus: list[tuple[str, bytes]]
) -> int:
    """Index documents into `scope` the way the ingestion job does; returns the chunk count."""
    chunk_total = 0
    for name, data in corpus:
        row, _ = await documents.add(
            scope=scope,
            added_by=scope,
            title=name,
            kind="markdown",
            file_name=name,
            mime_type="text/markdown",
            data=data,
        )
        extracted = extract(data, file_name=name, mime_type="text/markdown", max_pages=100)
        chunks = split_document(extracted, count_tokens=token_counter())
        vectors = await index.embeddings.aembed_documents([c.text for c in chunks])
        ids = await index.write(scope=scope, document_id=row.id, chunks=chunks, vectors=vectors)
        await documents.mark_ready(
            row.id,
            title=name,
            page_count=None,
            chunk_count=len(chunks),
            language="en",
            embedding_model=index.model_name,
            chunk_ids=ids,
        )
        chunk_total += len(chunks)
    return chunk_total


async def search_texts(index: ChunkIndex, mode: str, scope: str, question: str) -> list[str]:
    """Top passages' texts for one search mode."""
    if mode == "hybrid":
        return [p.text for p in await index.search(scope, question, k=TOP_K)]
    if mode == "vector":
        vector = await index.embeddings.aembed_query(question)
        exact = is_exact_better(*await index._ready_chunks(scope))
        found = await index._dense_search(scope, vector, limit=TOP_K, is_exact=exact)
        return [p.text for p in found]
    return [
        p.text for p in await index._keyword_search(scope, question, limit=TOP_K, is_small=True)
    ]


MODES = ("vector", "keyword", "hybrid")
PARAPHRASE_LABEL = "paraphrase"
EN_PROOFS = [fact[3] for fact in FACTS]
# (label, scope, questions, proofs): a hit is the proof inside a top passage.
QUESTION_SETS = (
    ("en → en docs", SCOPE, [fact[1] for fact in FACTS], EN_PROOFS),
    ("pt → pt docs", SCOPE, [fact[2] for fact in FACTS], PROOFS_PT),
    ("pt → en docs", SCOPE, [fact[2] for fact in FACTS], EN_PROOFS),
    *(
        (
            f"{PARAPHRASE_LABEL} {asked} → {stored}",
            PARAPHRASE_SCOPES[stored],
            [fact[2 if asked == "en" else 3] for fact in PARAPHRASES],
            [fact[4 if stored == "en" else 5] for fact in PARAPHRASES],
        )
        for asked, stored in (("pt", "pt"), ("pt", "en"), ("en", "pt"), ("en", "en"))
    ),
)


async def evaluate(index: ChunkIndex) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    for mode in MODES:
        for label, scope, questions, proofs in QUESTION_SETS:
            hits_at_1 = hits_at_k = 0
            for question, proof in zip(questions, proofs, strict=True):
                texts = await search_texts(index, mode, scope, question)
                hits_at_1 += bool(texts) and proof in texts[0]
                hits_at_k += any(proof in text for text in texts)
            results.append(
                {
                    "mode": mode,
                    "questions": label,
                    "count": len(questions),
                    "hit_at_1": hits_at_1 / len(questions),
                    "hit_at_5": hits_at_k / len(questions),
                }
            )
    return results


def query_ms_p50(index: ChunkIndex) -> float:
    """Median time to embed one question, after a warm-up, on the calling thread."""
    questions = [question for _, _, asked, _ in QUESTION_SETS for question in asked]
    index.embeddings.embed_query(questions[0])
    latencies = []
    for question in questions:
        started = time.perf_counter()
        index.embeddings.embed_query(question)
        latencies.append((time.perf_counter() - started) * 1000)
    return statistics.median(latencies)


async def measure(admin_url: str, model: str) -> dict[str, object]:
    """Index both corpora with `model` in a database of its own, then ask every question."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.replace("/postgres?", f"/{name}?")
    settings = Settings(_env_file=None, database_url=url, embeddings_model=model)  # type: ignore[call-arg]
    migrate(settings)
    pool = AsyncConnectionPool(url, max_size=settings.database_pool_size, open=False)
    await pool.open()
    index = ChunkIndex(
        pool,
        url,
        build_embeddings(settings),
        embeddings_model_name(settings),
        pool_size=settings.database_pool_size,
    )
    try:
        documents = DocumentStore(pool, url)
        handbooks = build_documents(
            random.Random(SEED),
            {"en": [fact[0] for fact in FACTS], "pt": FACTS_PT},
            per_language=4,
            filler_per_fact=FILLER_PARAGRAPHS_PER_FACT,
            prefix="handbook",
        )
        paraphrased = build_documents(
            random.Random(SEED),
            {"en": [fact[0] for fact in PARAPHRASES], "pt": [fact[1] for fact in PARAPHRASES]},
            per_language=PARAPHRASE_DOCUMENTS_PER_LANGUAGE,
            filler_per_fact=PARAPHRASE_FILLER_PER_FACT,
            prefix="paraphrase",
        )
        started = time.perf_counter()
        chunks = await index_corpus(documents, index, SCOPE, handbooks["en"] + handbooks["pt"])
        for language, scope in PARAPHRASE_SCOPES.items():
            chunks += await index_corpus(documents, index, scope, paraphrased[language])
        indexing_seconds = time.perf_counter() - started
        rows = await evaluate(index)
        query_ms = query_ms_p50(index)
    finally:
        await index.close()
        await pool.close()
    return {
        "model": model,
        "documents": sum(len(corpus) for corpus in (*handbooks.values(), *paraphrased.values())),
        "chunks": chunks,
        "indexing_seconds": indexing_seconds,
        "chunks_per_second": chunks / indexing_seconds,
        "query_ms_p50": query_ms,
        "results": rows,
    }


async def run() -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    workdir.chmod(0o755)
    try:
        admin_url = start_postgres(workdir / "pg", on_exit="delete")
        models = [await measure(admin_url, model) for model in LOCAL_MODEL_NAMES]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "machine": f"{platform.processor() or platform.machine()}, {cpu_model()}",
        "top_k": TOP_K,
        "models": models,
    }


def print_table(report: dict[str, object]) -> None:
    models = cast("list[dict[str, object]]", report["models"])
    print(f"Machine: {report['machine']}")
    for model in models:
        print(
            f"{model['model']}: {model['documents']} documents, {model['chunks']} chunks, "
            f"indexed in {model['indexing_seconds']:.1f} s ({model['chunks_per_second']:.1f} "
            f"chunks/s); query embedding p50 {model['query_ms_p50']:.1f} ms"
        )
    print("hit@1 / hit@5 per model: " + ", ".join(str(model["model"]) for model in models))
    first = cast("list[dict[str, object]]", models[0]["results"])
    for position, row in enumerate(first):
        cells = []
        for model in models:
            result = cast("list[dict[str, object]]", model["results"])[position]
            cells.append(f"{result['hit_at_1']:.2f} / {result['hit_at_5']:.2f}")
        print(f"{row['mode']:<8} {row['questions']:<24} " + "   ".join(f"{c:>11}" for c in cells))


def main() -> None:
    report = asyncio.run(run())
    print_table(report)
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
