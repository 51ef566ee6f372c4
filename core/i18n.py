"""UI strings in English and Brazilian Portuguese, and a light guess of the user's language.

The guess only picks UI strings; the model itself is told to answer in the user's language.
"""

from __future__ import annotations

import re

SUPPORTED_LOCALES = ("en", "pt-BR")

_PORTUGUESE_WORDS = frozenset(
    [
        "a",
        "as",
        "o",
        "os",
        "um",
        "uma",
        "de",
        "do",
        "da",
        "dos",
        "das",
        "em",
        "no",
        "na",
        "nos",
        "nas",
        "por",
        "para",
        "com",
        "não",
        "nao",
        "sim",
        "que",
        "é",
        "e",
        "eu",
        "você",
        "voce",
        "meu",
        "minha",
        "seu",
        "sua",
        "ele",
        "ela",
        "isso",
        "este",
        "esta",
        "qual",
        "quais",
        "como",
        "onde",
        "quando",
        "porque",
        "obrigado",
        "obrigada",
        "olá",
        "ola",
        "oi",
        "tudo",
        "bem",
        "mais",
        "muito",
        "moro",
        "nome",
        "sou",
        "está",
        "estou",
        "são",
        "ser",
        "ter",
        "tem",
        "tenho",
        "fazer",
        "pode",
        "posso",
        "me",
        "te",
        "se",
        "já",
        "ja",
        "também",
    ]
)
_ENGLISH_WORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "of",
        "to",
        "in",
        "on",
        "for",
        "with",
        "and",
        "or",
        "not",
        "yes",
        "that",
        "is",
        "are",
        "was",
        "were",
        "i",
        "you",
        "my",
        "your",
        "he",
        "she",
        "it",
        "this",
        "these",
        "what",
        "which",
        "how",
        "where",
        "when",
        "why",
        "thanks",
        "thank",
        "hello",
        "hi",
        "all",
        "more",
        "very",
        "live",
        "name",
        "am",
        "be",
        "have",
        "has",
        "do",
        "can",
        "could",
        "please",
        "me",
        "we",
        "they",
    ]
)
_PORTUGUESE_LETTERS = re.compile(r"[ãõçáéíóúâêôà]", re.IGNORECASE)
_WORD = re.compile(r"[\wãõçáéíóúâêôà]+", re.IGNORECASE)


def normalise_locale(value: str | None) -> str | None:
    """Map platform locale codes (`pt`, `pt_BR`, `pt-br`, `en-US`) to a supported one."""
    if not value:
        return None
    lowered = value.strip().lower().replace("_", "-")
    if lowered.startswith("pt"):
        return "pt-BR"
    if lowered.startswith("en"):
        return "en"
    return None


def detect_language(text: str) -> str | None:
    """Guess pt-BR or en from common words and accents; None when the text says too little."""
    words = [w.lower() for w in _WORD.findall(text)]
    portuguese = sum(w in _PORTUGUESE_WORDS for w in words) + 2 * len(
        _PORTUGUESE_LETTERS.findall(text)
    )
    english = sum(w in _ENGLISH_WORDS for w in words)
    if portuguese == english:
        return None
    return "pt-BR" if portuguese > english else "en"


_CATALOG: dict[str, dict[str, str]] = {
    "start": {
        "en": "Hi{name}! I'm your assistant. Ask me anything, or send /help to see what I can do.",
        "pt-BR": "Oi{name}! Sou seu assistente. Pergunte o que quiser ou envie /help para ver "
        "o que eu sei fazer.",
    },
    "help": {
        "en": "Commands:\n"
        "/ask <question>: ask me something (or just write to me)\n"
        "/start: say hello\n"
        "/help: this list\n"
        "/reset: forget this conversation\n"
        "/history: what I remember of this conversation\n"
        "/model [name]: show or switch the model\n"
        "/lang [en|pt-BR]: show or set my language\n"
        "In groups, mention me or reply to me.",
        "pt-BR": "Comandos:\n"
        "/ask <pergunta>: me pergunte algo (ou só escreva)\n"
        "/start: dizer oi\n"
        "/help: esta lista\n"
        "/reset: esquecer esta conversa\n"
        "/history: o que eu lembro desta conversa\n"
        "/model [nome]: ver ou trocar o modelo\n"
        "/lang [en|pt-BR]: ver ou definir meu idioma\n"
        "Em grupos, me mencione ou responda a uma mensagem minha.",
    },
    "reset_done": {
        "en": "Done: I forgot this conversation.",
        "pt-BR": "Pronto: esqueci esta conversa.",
    },
    "history_empty": {
        "en": "I don't remember anything of this conversation yet.",
        "pt-BR": "Ainda não lembro de nada desta conversa.",
    },
    "history_header": {
        "en": "What I remember of this conversation ({turns} messages, ~{tokens} tokens):",
        "pt-BR": "O que eu lembro desta conversa ({turns} mensagens, ~{tokens} tokens):",
    },
    "history_summary": {
        "en": "Summary of earlier messages:",
        "pt-BR": "Resumo das mensagens anteriores:",
    },
    "history_pending": {
        "en": "({count} older messages are being summarised.)",
        "pt-BR": "({count} mensagens antigas estão sendo resumidas.)",
    },
    "role_human": {"en": "You", "pt-BR": "Você"},
    "role_ai": {"en": "Me", "pt-BR": "Eu"},
    "model_current": {
        "en": "Model in use: {model}\nAvailable: {choices}\nSwitch with /model <name>.",
        "pt-BR": "Modelo em uso: {model}\nDisponíveis: {choices}\nTroque com /model <nome>.",
    },
    "model_switched": {"en": "Now using {model}.", "pt-BR": "Agora usando {model}."},
    "model_unknown": {
        "en": "I don't know the model {model}. Available: {choices}",
        "pt-BR": "Não conheço o modelo {model}. Disponíveis: {choices}",
    },
    "lang_current": {
        "en": "Language: {locale}. Set it with /lang en or /lang pt-BR.",
        "pt-BR": "Idioma: {locale}. Defina com /lang en ou /lang pt-BR.",
    },
    "lang_set": {"en": "I'll use English.", "pt-BR": "Vou usar português."},
    "lang_unknown": {
        "en": "I only speak en and pt-BR for now.",
        "pt-BR": "Por enquanto só falo en e pt-BR.",
    },
    "unknown_command": {
        "en": "I don't know /{command}. Send /help for the list.",
        "pt-BR": "Não conheço /{command}. Envie /help para ver a lista.",
    },
    "empty_message": {
        "en": "Send me some text and I'll answer.",
        "pt-BR": "Mande um texto que eu respondo.",
    },
    "memory_summarised": {
        "en": "(I summarised older messages to keep our conversation short; see /history.)",
        "pt-BR": "(Resumi mensagens antigas para manter a conversa curta; veja /history.)",
    },
    "error_unreachable": {
        "en": "I can't reach the language model right now. Please try again in a moment.",
        "pt-BR": "Não consigo falar com o modelo de linguagem agora. Tente de novo em instantes.",
    },
    "error_auth": {
        "en": "The language model refused my credentials. An admin needs to check the API key.",
        "pt-BR": "O modelo de linguagem recusou minhas credenciais. Um admin precisa verificar "
        "a chave de API.",
    },
    "error_timeout": {
        "en": "The language model took too long to answer. Please try again.",
        "pt-BR": "O modelo de linguagem demorou demais para responder. Tente de novo.",
    },
    "error_context": {
        "en": "That was too long for the model. Try a shorter message or /reset.",
        "pt-BR": "Isso ficou longo demais para o modelo. Tente uma mensagem menor ou /reset.",
    },
    "error_rate_limited": {
        "en": "The language model is busy (rate limit). Please try again shortly.",
        "pt-BR": "O modelo de linguagem está ocupado (limite de uso). Tente de novo logo.",
    },
    "error_generic": {
        "en": "Something went wrong on my side. Your conversation is safe; please try again.",
        "pt-BR": "Algo deu errado do meu lado. Sua conversa está salva; tente de novo.",
    },
}


def t(key: str, locale: str, **values: object) -> str:
    """Return the UI string `key` in `locale` (English when missing), formatted."""
    variants = _CATALOG[key]
    text = variants.get(locale) or variants["en"]
    return text.format(**values) if values else text
