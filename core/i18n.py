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
        "quem",
        "quanto",
        "quantos",
        "quanta",
        "quantas",
        "foi",
        "sobre",
        "pelo",
        "pela",
        "ao",
        "aos",
        "mas",
        "ou",
        "há",
        "sabe",
        "diga",
        "explique",
        "então",
        "aqui",
        "isto",
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
        "who",
        "whom",
        "whose",
        "did",
        "does",
        "about",
        "from",
        "there",
        "tell",
        "explain",
    ]
)
_PORTUGUESE_LETTERS = re.compile(r"[ãõçáéíóúâêôà]", re.IGNORECASE)
# Third-person past of Portuguese verbs ("criou", "lançou", "escreveu"): short questions
# often have little else; English words end so rarely ("you", "thou" aside).
_PORTUGUESE_PAST = re.compile(r"^(?!(?:you|thou)$)\w{2,}(?:ou|eu|iu)$")
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


def preferred_locale(accept_language: str | None) -> str | None:
    """The first supported locale a browser's Accept-Language header asks for, if any."""
    for part in (accept_language or "").split(","):
        if (locale := normalise_locale(part.split(";")[0])) is not None:
            return locale
    return None


def detect_language(text: str) -> str | None:
    """Guess pt-BR or en from common words and accents; None when the text says too little."""
    words = [w.lower() for w in _WORD.findall(text)]
    portuguese = sum(
        w in _PORTUGUESE_WORDS or _PORTUGUESE_PAST.search(w) is not None for w in words
    ) + 2 * len(_PORTUGUESE_LETTERS.findall(text))
    english = sum(w in _ENGLISH_WORDS for w in words)
    if portuguese == english:
        return None
    return "pt-BR" if portuguese > english else "en"


# A string, or its (one, other) forms picked by the `count` it is formatted with.
Text = str | tuple[str, str]

_CATALOG: dict[str, dict[str, Text]] = {
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
        "/docs: the documents I learned here\n"
        "/forget <doc>: forget a document\n"
        "/sources [N]: the passages behind my last answer (N: passage N whole)\n"
        "/summary [doc] [short|long]: a document's or video's summary again\n"
        "/transcript [video]: the timed transcript of a video or audio\n"
        "/reindex here|<doc>: index this chat's documents, or one, again\n"
        "/quota: your answers today and your limit\n"
        "/export, /forget all: everything I keep about you, to take or to delete\n"
        "/link: be one person on Telegram, Discord and the terminal\n"
        "/web: a code to sign in to the web page (chat, documents, sources)\n"
        "/agent on|off: let me use tools (your documents, calculator, web, Wikipedia…)\n"
        "/trace: the steps behind my last answer in agent mode\n"
        "Voice notes are answered; videos and YouTube links are transcribed and indexed.\n"
        "Send me files (PDF, DOCX, TXT, Markdown, HTML, CSV) or links and ask about them.\n"
        "In groups, mention me or reply to me.",
        "pt-BR": "Comandos:\n"
        "/ask <pergunta>: me pergunte algo (ou só escreva)\n"
        "/start: dizer oi\n"
        "/help: esta lista\n"
        "/reset: esquecer esta conversa\n"
        "/history: o que eu lembro desta conversa\n"
        "/model [nome]: ver ou trocar o modelo\n"
        "/lang [en|pt-BR]: ver ou definir meu idioma\n"
        "/docs: os documentos que aprendi aqui\n"
        "/forget <doc>: esquecer um documento\n"
        "/sources [N]: os trechos por trás da minha última resposta (N: o trecho N inteiro)\n"
        "/summary [doc] [curto|longo]: o resumo de um documento ou vídeo de novo\n"
        "/transcript [vídeo]: a transcrição com tempos de um vídeo ou áudio\n"
        "/reindex here|<doc>: indexar de novo os documentos desta conversa, ou um\n"
        "/quota: suas respostas de hoje e seu limite\n"
        "/export, /forget all: tudo que guardo sobre você, para levar ou apagar\n"
        "/link: ser uma pessoa só no Telegram, Discord e terminal\n"
        "/web: um código para entrar na página web (chat, documentos, fontes)\n"
        "/agent on|off: me deixar usar ferramentas (seus documentos, calculadora, web, "
        "Wikipédia…)\n"
        "/trace: os passos por trás da minha última resposta no modo agente\n"
        "Respondo mensagens de voz; vídeos e links do YouTube são transcritos e indexados.\n"
        "Envie arquivos (PDF, DOCX, TXT, Markdown, HTML, CSV) ou links e pergunte sobre eles.\n"
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
        "en": "What I remember of this conversation ({messages}, ~{tokens} tokens):",
        "pt-BR": "O que eu lembro desta conversa ({messages}, ~{tokens} tokens):",
    },
    "history_summary": {
        "en": "Summary of earlier messages:",
        "pt-BR": "Resumo das mensagens anteriores:",
    },
    "history_pending": {
        "en": (
            "({count} older message is being summarised.)",
            "({count} older messages are being summarised.)",
        ),
        "pt-BR": (
            "({count} mensagem antiga está sendo resumida.)",
            "({count} mensagens antigas estão sendo resumidas.)",
        ),
    },
    "history_messages": {
        "en": ("{count} message", "{count} messages"),
        "pt-BR": ("{count} mensagem", "{count} mensagens"),
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
        "en": "Language: {language}. Set it with /lang en or /lang pt-BR.",
        "pt-BR": "Idioma: {language}. Defina com /lang en ou /lang pt-BR.",
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
    "unsupported_content": {
        "en": "I can't use {what} yet. I understand text, files (PDF, DOCX, text), links, "
        "videos and voice notes.",
        "pt-BR": "Ainda não consigo usar {what}. Entendo texto, arquivos (PDF, DOCX, texto), "
        "links, vídeos e mensagens de voz.",
    },
    "content_photo": {"en": "photos", "pt-BR": "fotos"},
    "content_sticker": {"en": "stickers", "pt-BR": "figurinhas"},
    "content_animation": {"en": "GIFs", "pt-BR": "GIFs"},
    "content_location": {"en": "locations", "pt-BR": "localizações"},
    "content_venue": {"en": "places", "pt-BR": "locais"},
    "content_contact": {"en": "contacts", "pt-BR": "contatos"},
    "content_poll": {"en": "polls", "pt-BR": "enquetes"},
    "content_dice": {"en": "dice", "pt-BR": "dados"},
    "empty_message": {
        "en": "Send me some text and I'll answer.",
        "pt-BR": "Mande um texto que eu respondo.",
    },
    "memory_summarised": {
        "en": "(I summarised older messages to keep our conversation short; see /history.)",
        "pt-BR": "(Resumi mensagens antigas para manter a conversa curta; veja /history.)",
    },
    "reason_model_unreachable": {
        "en": "I can't reach the language model right now. Please try again in a moment.",
        "pt-BR": "Não consigo falar com o modelo de linguagem agora. Tente de novo em instantes.",
    },
    "reason_model_auth": {
        "en": "The language model refused my credentials. An admin needs to check the API key.",
        "pt-BR": "O modelo de linguagem recusou minhas credenciais. Um admin precisa verificar "
        "a chave de API.",
    },
    "reason_model_timeout": {
        "en": "The language model took too long to answer. Please try again.",
        "pt-BR": "O modelo de linguagem demorou demais para responder. Tente de novo.",
    },
    "reason_model_context": {
        "en": "That was too long for the model. Try a shorter message or /reset.",
        "pt-BR": "Isso ficou longo demais para o modelo. Tente uma mensagem menor ou /reset.",
    },
    "reason_model_rate_limited": {
        "en": "The language model is busy (rate limit). Please try again shortly.",
        "pt-BR": "O modelo de linguagem está ocupado (limite de uso). Tente de novo logo.",
    },
    "error_generic": {
        "en": "Something went wrong on my side. Your conversation is safe; please try again.",
        "pt-BR": "Algo deu errado do meu lado. Sua conversa está salva; tente de novo.",
    },
    "service_unavailable": {
        "en": "⏳ I'm temporarily unavailable; please try again in a moment.",
        "pt-BR": "⏳ Estou temporariamente indisponível; tente de novo em instantes.",
    },
    "reason_model_generic": {
        "en": "Something went wrong on my side. Your conversation is safe; please try again.",
        "pt-BR": "Algo deu errado do meu lado. Sua conversa está salva; tente de novo.",
    },
    "answer_empty": {
        "en": "I have no answer to that; try rephrasing.",
        "pt-BR": "Não tenho resposta para isso; tente reformular.",
    },
    "doc_received": {
        "en": "📄 Got {name}. Indexing it now; this message will show the progress.",
        "pt-BR": "📄 Recebi {name}. Estou indexando; esta mensagem mostra o andamento.",
    },
    "doc_already_ready": {
        "en": "I already have {name}, indexed and ready.{summary}\n\n"
        "Ask away, or /forget it first to send it again.",
        "pt-BR": "Já tenho {name}, indexado e pronto.{summary}\n\n"
        "Pode perguntar, ou use /forget antes de reenviar.",
    },
    "doc_already_indexing": {
        "en": "📄 {name} is already being indexed; you'll see it in /docs when it's ready.",
        "pt-BR": "📄 {name} já está sendo indexado; ele aparece em /docs quando ficar pronto.",
    },
    "doc_retrying": {
        "en": "📄 {name} failed before; trying it again now.",
        "pt-BR": "📄 {name} tinha falhado; estou tentando de novo.",
    },
    "doc_too_large": {
        "en": "{name} is too big ({size}); the limit is {limit}.",
        "pt-BR": "{name} é grande demais ({size}); o limite é {limit}.",
    },
    "doc_reading": {"en": "📄 {name}: reading…", "pt-BR": "📄 {name}: lendo…"},
    "doc_embedding": {
        "en": "📄 {name}: {where}; indexing passages {done}/{total}…",
        "pt-BR": "📄 {name}: {where}; indexando trechos {done}/{total}…",
    },
    "doc_summarising": {
        "en": "📄 {name}: {where}; writing the summary…",
        "pt-BR": "📄 {name}: {where}; escrevendo o resumo…",
    },
    "doc_pages": {
        "en": ("{count} page", "{count} pages"),
        "pt-BR": ("{count} página", "{count} páginas"),
    },
    "doc_sections": {
        "en": ("{count} section", "{count} sections"),
        "pt-BR": ("{count} seção", "{count} seções"),
    },
    "doc_passages": {
        "en": ("{count} passage", "{count} passages"),
        "pt-BR": ("{count} trecho", "{count} trechos"),
    },
    "doc_ready": {
        "en": "✅ {name} is ready ({where}, {passages}).\n\n{summary}\n\n"
        "You could ask:\n{questions}",
        "pt-BR": "✅ {name} está pronto ({where}, {passages}).\n\n{summary}\n\n"
        "Você pode perguntar:\n{questions}",
    },
    "doc_failed": {"en": "❌ {name}: {reason}", "pt-BR": "❌ {name}: {reason}"},
    "reason_unsupported_type": {
        "en": "I can't read this kind of file. I take PDF, DOCX, TXT, Markdown, HTML and CSV "
        "files, and web links.",
        "pt-BR": "Não consigo ler esse tipo de arquivo. Aceito PDF, DOCX, TXT, Markdown, HTML e "
        "CSV, e links de páginas.",
    },
    "reason_empty": {"en": "the file is empty.", "pt-BR": "o arquivo está vazio."},
    "reason_encrypted": {
        "en": "it is password-protected; send a copy without the password.",
        "pt-BR": "está protegido por senha; envie uma cópia sem senha.",
    },
    "reason_broken": {
        "en": "the file seems damaged; I couldn't read it.",
        "pt-BR": "o arquivo parece danificado; não consegui ler.",
    },
    "reason_no_text": {
        "en": "it has no text I can read (a scanned document or only images?).",
        "pt-BR": "não tem texto que eu consiga ler (documento escaneado ou só imagens?).",
    },
    "reason_too_many_pages": {
        "en": "it has more pages than the limit of {limit}.",
        "pt-BR": "tem mais páginas que o limite de {limit}.",
    },
    "reason_too_much_text": {
        "en": "it unpacks to far more text than I take (limit {limit} characters).",
        "pt-BR": "ele se expande em muito mais texto do que eu aceito (limite de {limit} "
        "caracteres).",
    },
    "reason_bad_url": {
        "en": "that is not a web link I can open (http or https only).",
        "pt-BR": "isso não é um link que eu possa abrir (só http ou https).",
    },
    "reason_private_address": {
        "en": "I won't open it: it points to a private or local network address.",
        "pt-BR": "não vou abrir: aponta para um endereço de rede privado ou local.",
    },
    "reason_unresolvable": {
        "en": "that site's name does not resolve.",
        "pt-BR": "o nome desse site não existe.",
    },
    "reason_unreachable": {"en": "the site did not answer.", "pt-BR": "o site não respondeu."},
    "reason_timeout": {"en": "the site took too long.", "pt-BR": "o site demorou demais."},
    "reason_too_large": {
        "en": "it is too big ({size}); the limit is {limit}.",
        "pt-BR": "é grande demais ({size}); o limite é {limit}.",
    },
    "reason_too_big_for_platform": {
        "en": "it is too big for bots to download here ({size}; the limit is {limit}).",
        "pt-BR": "é grande demais para bots baixarem aqui ({size}; o limite é {limit}).",
    },
    "reason_too_many_redirects": {
        "en": "the link redirects too many times.",
        "pt-BR": "o link redireciona vezes demais.",
    },
    "reason_http_error": {
        "en": "the site answered with an error ({detail}).",
        "pt-BR": "o site respondeu com erro ({detail}).",
    },
    "reason_not_a_document": {
        "en": "the link is not a web page or document I can read.",
        "pt-BR": "o link não é uma página ou documento que eu consiga ler.",
    },
    "reason_kept_failing": {
        "en": "indexing it kept failing; an admin can /retry it.",
        "pt-BR": "a indexação falhou repetidas vezes; um admin pode usar /retry.",
    },
    "reason_internal": {
        "en": "something went wrong on my side; an admin can retry it.",
        "pt-BR": "algo deu errado do meu lado; um admin pode tentar de novo.",
    },
    "media_transcribing": {
        "en": "🎧 {name}: transcribing, {percent}% of the audio done…",
        "pt-BR": "🎧 {name}: transcrevendo, {percent}% do áudio feito…",
    },
    "transcript_attached": {
        "en": "📝 Transcript of {name} ({lines}) attached.",
        "pt-BR": "📝 Transcrição de {name} ({lines}) em anexo.",
    },
    "transcript_lines": {
        "en": ("{count} line", "{count} lines"),
        "pt-BR": ("{count} linha", "{count} linhas"),
    },
    "admins_only": {
        "en": "Only admins can do that.",
        "pt-BR": "Só admins podem fazer isso.",
    },
    "voice_heard": {"en": "🎤 I heard: “{text}”", "pt-BR": "🎤 Eu ouvi: “{text}”"},
    "voice_not_heard": {
        "en": "🎤 I couldn't make out any words in that voice note. Could you try again?",
        "pt-BR": "🎤 Não consegui entender palavras nessa mensagem de voz. Pode tentar de novo?",
    },
    "summary_long_queued": {
        "en": "📝 Writing a detailed summary of {title}; it will follow in a moment.",
        "pt-BR": "📝 Escrevendo um resumo detalhado de {title}; ele chega em instantes.",
    },
    "summary_none": {
        "en": "There is no summary for that yet (is it still being indexed? see /docs).",
        "pt-BR": "Ainda não há resumo disso (ainda está sendo indexado? veja /docs).",
    },
    "transcript_none": {
        "en": "That document has no transcript: only videos and audio do.",
        "pt-BR": "Esse documento não tem transcrição: só vídeos e áudios têm.",
    },
    "media_moments": {"en": "Key moments:", "pt-BR": "Momentos-chave:"},
    "reason_private": {
        "en": "the video is private.",
        "pt-BR": "o vídeo é privado.",
    },
    "reason_age_restricted": {
        "en": "the video is age-restricted and needs a signed-in account.",
        "pt-BR": "o vídeo tem restrição de idade e exige uma conta conectada.",
    },
    "reason_unavailable": {
        "en": "the video or file is unavailable (removed or not found).",
        "pt-BR": "o vídeo ou arquivo não está disponível (removido ou não encontrado).",
    },
    "reason_live": {
        "en": "live streams can't be transcribed; send it again when it has ended.",
        "pt-BR": "transmissões ao vivo não podem ser transcritas; envie de novo quando terminar.",
    },
    "reason_too_long": {
        "en": "the media is longer than the limit.",
        "pt-BR": "a mídia passa do limite de duração.",
    },
    "reason_network": {
        "en": "the site could not be reached; an admin can retry it.",
        "pt-BR": "não consegui acessar o site; um admin pode tentar de novo.",
    },
    "reason_no_audio": {
        "en": "it has no audio track I can hear.",
        "pt-BR": "não tem trilha de áudio que eu consiga ouvir.",
    },
    "reason_unsupported": {
        "en": "I found no video or audio at that link.",
        "pt-BR": "não encontrei vídeo ou áudio nesse link.",
    },
    "docs_empty": {
        "en": "No documents here yet. Send me a file (PDF, DOCX, TXT, Markdown, HTML, CSV) "
        "or a link.",
        "pt-BR": "Ainda não há documentos aqui. Envie um arquivo (PDF, DOCX, TXT, Markdown, HTML, "
        "CSV) ou um link.",
    },
    "docs_header": {"en": "Documents here:", "pt-BR": "Documentos aqui:"},
    "docs_chunks": {
        "en": ("{count} chunk", "{count} chunks"),
        "pt-BR": ("{count} trecho", "{count} trechos"),
    },
    "forget_usage": {
        "en": "Say which one: /forget <id or name> (see /docs).",
        "pt-BR": "Diga qual: /forget <id ou nome> (veja /docs).",
    },
    "access_blocked": {
        "en": "Sorry, you can't use this bot.",
        "pt-BR": "Desculpe, você não pode usar este bot.",
    },
    "access_not_allowed": {
        "en": "This bot is invite-only. Ask an admin to let you in with /allow {identity}.",
        "pt-BR": "Este bot é só para convidados. Peça a um admin para liberar você com "
        "/allow {identity}.",
    },
    "limit_rate": {
        "en": "You're sending messages faster than I can take; try again in {seconds} s.",
        "pt-BR": "Você está mandando mensagens mais rápido do que consigo; tente de novo em "
        "{seconds} s.",
    },
    "limit_daily": {
        "en": "You've used today's {quota} answers. They start again in {resets_in} "
        "(midnight UTC).",
        "pt-BR": "Você já usou as {quota} respostas de hoje. Elas voltam em {resets_in} "
        "(meia-noite UTC).",
    },
    "limit_pending": {
        "en": (
            "You already have {count} file or link being indexed; send more when it's done.",
            "You already have {count} files or links being indexed; send more when they're done.",
        ),
        "pt-BR": (
            "Você já tem {count} arquivo ou link sendo indexado; envie mais quando terminar.",
            "Você já tem {count} arquivos ou links sendo indexados; envie mais quando terminarem.",
        ),
    },
    "quota_status": {
        "en": "Today you got {count} of your {quota} answers ({tokens} tokens). They start "
        "again in {resets_in} (midnight UTC).",
        "pt-BR": "Hoje você recebeu {count} das suas {quota} respostas ({tokens} tokens). Elas "
        "voltam em {resets_in} (meia-noite UTC).",
    },
    "quota_unlimited": {
        "en": (
            "Today you got {count} answer ({tokens} tokens); you have no daily limit.",
            "Today you got {count} answers ({tokens} tokens); you have no daily limit.",
        ),
        "pt-BR": (
            "Hoje você recebeu {count} resposta ({tokens} tokens); você não tem limite diário.",
            "Hoje você recebeu {count} respostas ({tokens} tokens); você não tem limite diário.",
        ),
    },
    "quota_usage": {
        "en": "Usage: /quota <identity> <answers a day, 0 for unlimited, or default>",
        "pt-BR": "Uso: /quota <identidade> <respostas por dia, 0 para ilimitado, ou padrão>",
    },
    "quota_default": {"en": "the default", "pt-BR": "o padrão"},
    "quota_set": {
        "en": "{identity} may now get {quota} answers a day.",
        "pt-BR": "{identity} agora pode receber {quota} respostas por dia.",
    },
    "user_unknown": {
        "en": "I don't know {identity}. Identities look like tg:123, dc:456 or cli:name.",
        "pt-BR": "Não conheço {identity}. Identidades são como tg:123, dc:456 ou cli:nome.",
    },
    "access_usage": {
        "en": "Usage: /allow <identity> or /block <identity> (e.g. tg:123).",
        "pt-BR": "Uso: /allow <identidade> ou /block <identidade> (ex.: tg:123).",
    },
    "allow_done": {
        "en": "{identity} may talk to me now.",
        "pt-BR": "{identity} já pode falar comigo.",
    },
    "block_done": {
        "en": "{identity} is blocked; I'll tell them once.",
        "pt-BR": "{identity} está bloqueado; vou avisar uma vez.",
    },
    "stats": {
        "en": "People: {users} ({active_today} today, {active_week} in 7 days)\n"
        "Answers: {messages_today} today, {messages_week} in 7 days\n"
        "Tokens: {tokens_today} today, {tokens_week} in 7 days\n"
        "Documents: {documents} ({failed_documents} failed), {chunks} passages, {size}\n"
        "Jobs: {jobs_waiting} waiting, {jobs_running} running, {jobs_failed} failed",
        "pt-BR": "Pessoas: {users} ({active_today} hoje, {active_week} em 7 dias)\n"
        "Respostas: {messages_today} hoje, {messages_week} em 7 dias\n"
        "Tokens: {tokens_today} hoje, {tokens_week} em 7 dias\n"
        "Documentos: {documents} ({failed_documents} com falha), {chunks} trechos, {size}\n"
        "Tarefas: {jobs_waiting} na fila, {jobs_running} rodando, {jobs_failed} com falha",
    },
    "reindex_queued": {
        "en": (
            "Re-indexing {count} document from its original; /docs shows when it's ready.",
            "Re-indexing {count} documents from their originals; /docs shows when each is ready.",
        ),
        "pt-BR": (
            "Reindexando {count} documento a partir do original; /docs mostra quando ficar pronto.",
            "Reindexando {count} documentos a partir dos originais; /docs mostra quando cada "
            "um ficar pronto.",
        ),
    },
    "forget_all_confirm": {
        "en": "This deletes everything I keep about you: your conversations, your private "
        "documents, your usage and settings (what you sent to groups stays there, without "
        "your name). Send {command} yes to go ahead.",
        "pt-BR": "Isso apaga tudo que guardo sobre você: suas conversas, seus documentos "
        "privados, seu uso e suas preferências (o que você mandou em grupos fica lá, sem seu "
        "nome). Envie {command} sim para continuar.",
    },
    "forget_all_done": {
        "en": "Done: I deleted everything about you ({documents} private documents, "
        "{conversations} conversations).",
        "pt-BR": "Pronto: apaguei tudo sobre você ({documents} documentos privados, "
        "{conversations} conversas).",
    },
    "export_attached": {
        "en": "📦 Everything I keep about you is in this file.",
        "pt-BR": "📦 Tudo que guardo sobre você está neste arquivo.",
    },
    "jobs_header": {
        "en": "Jobs (newest first; the number in brackets is attempts):",
        "pt-BR": "Tarefas (mais novas primeiro; entre parênteses, as tentativas):",
    },
    "jobs_none": {
        "en": "No job is waiting, running or failed.",
        "pt-BR": "Nenhuma tarefa na fila, rodando ou com falha.",
    },
    "jobs_usage": {
        "en": "/jobs retry <number> runs a failed job again; /jobs cancel <number> stops one.",
        "pt-BR": "/jobs retry <número> roda de novo uma tarefa que falhou; /jobs cancel "
        "<número> interrompe uma.",
    },
    "jobs_retry_done": {
        "en": "Job #{id} is queued again.",
        "pt-BR": "A tarefa #{id} voltou para a fila.",
    },
    "jobs_retry_refused": {
        "en": "There is no failed job #{id}.",
        "pt-BR": "Não há tarefa #{id} com falha.",
    },
    "jobs_cancel_done": {
        "en": "Job #{id} is cancelled (a running one stops at its next check).",
        "pt-BR": "A tarefa #{id} foi cancelada (uma em andamento para na próxima verificação).",
    },
    "jobs_cancel_refused": {
        "en": "Job #{id} can't be cancelled (finished, or no such job).",
        "pt-BR": "A tarefa #{id} não pode ser cancelada (terminou, ou não existe).",
    },
    "job_todo": {"en": "waiting", "pt-BR": "na fila"},
    "job_doing": {"en": "running", "pt-BR": "rodando"},
    "job_failed": {"en": "failed", "pt-BR": "falhou"},
    "link_code": {
        "en": "Your code: {code}. Within 10 minutes, send /link {code} to me from your other "
        "account (Telegram, Discord or the terminal). Then both are one person: one memory, "
        "one set of private documents, one quota.",
        "pt-BR": "Seu código: {code}. Em até 10 minutos, envie /link {code} para mim da sua "
        "outra conta (Telegram, Discord ou terminal). Aí as duas serão uma pessoa só: uma "
        "memória, um conjunto de documentos privados, uma cota.",
    },
    "link_done": {
        "en": "Linked: this account is now {person} too, with one memory, one set of private "
        "documents and one quota.",
        "pt-BR": "Pronto: esta conta agora também é {person}, com uma memória, um conjunto de "
        "documentos privados e uma cota.",
    },
    "link_bad_code": {
        "en": "That code is wrong or expired; send /link on your other account for a new one.",
        "pt-BR": "Esse código está errado ou expirou; envie /link na sua outra conta para "
        "receber outro.",
    },
    "link_private_only": {
        "en": "Use /link in a private chat with me: a code shown in a group could be used by "
        "anyone.",
        "pt-BR": "Use /link numa conversa privada comigo: um código mostrado num grupo poderia "
        "ser usado por qualquer um.",
    },
    "web_code": {
        "en": "Your web sign-in code: {code}. Type it on the web page within 10 minutes; it "
        "works once. The page will be you: this conversation and your private documents.{link}",
        "pt-BR": "Seu código para entrar na web: {code}. Digite-o na página web em até 10 "
        "minutos; ele vale uma vez. A página será você: esta conversa e seus documentos "
        "privados.{link}",
    },
    "web_link": {"en": "\nOr open {url}", "pt-BR": "\nOu abra {url}"},
    "web_private_only": {
        "en": "Use /web in a private chat with me: a code shown in a group could be used by "
        "anyone.",
        "pt-BR": "Use /web numa conversa privada comigo: um código mostrado num grupo poderia "
        "ser usado por qualquer um.",
    },
    "forget_not_yours": {
        "en": "Only the person who sent {name}, the group's admins or a bot admin can forget it.",
        "pt-BR": "Só quem enviou {name}, os admins do grupo ou um admin do bot podem esquecê-lo.",
    },
    "forget_done": {
        "en": "Forgot {name} and everything I had indexed from it.",
        "pt-BR": "Esqueci {name} e tudo que eu tinha indexado dele.",
    },
    "forget_not_found": {
        "en": 'I found no document matching "{reference}" here. See /docs.',
        "pt-BR": 'Não achei documento com "{reference}" aqui. Veja /docs.',
    },
    "forget_ambiguous": {
        "en": '"{reference}" matches several documents: {names}. Use the id from /docs.',
        "pt-BR": '"{reference}" corresponde a vários documentos: {names}. Use o id do /docs.',
    },
    "sources_empty": {
        "en": "My last answer here did not come from your documents.",
        "pt-BR": "Minha última resposta aqui não veio dos seus documentos.",
    },
    "sources_header": {
        "en": "Passages behind my last answer:",
        "pt-BR": "Trechos por trás da minha última resposta:",
    },
    "sources_usage": {
        "en": "/sources N shows passage N whole (1 to {count}).",
        "pt-BR": "/sources N mostra o trecho N inteiro (de 1 a {count}).",
    },
    "kb_sources": {"en": "Sources:", "pt-BR": "Fontes:"},
    "kb_extractive_note": {
        "en": "(Quoted from your documents: the built-in model is too small to write answers. "
        "A stronger model, via OPENAI_API_KEY, Ollama or LLM_BASE_URL, writes fuller ones.)",
        "pt-BR": "(Citado dos seus documentos: o modelo embutido é pequeno demais para redigir "
        "respostas. Um modelo mais forte, via OPENAI_API_KEY, Ollama ou LLM_BASE_URL, escreve "
        "respostas mais completas.)",
    },
    "kb_not_found": {
        "en": "I could not find this in your documents.",
        "pt-BR": "Não encontrei isso nos seus documentos.",
    },
    "reason_reindex_needed": {
        "en": "My document index needs a rebuild after a model change; an admin must run "
        "`assistant reindex`.",
        "pt-BR": "Meu índice de documentos precisa ser refeito após uma troca de modelo; um admin "
        "deve rodar `assistant reindex`.",
    },
    "agent_step_documents": {
        "en": "🔎 searching your documents for “{what}”",
        "pt-BR": "🔎 procurando nos seus documentos por “{what}”",
    },
    "agent_step_calculator": {"en": "🧮 calculating {what}", "pt-BR": "🧮 calculando {what}"},
    "agent_step_datetime": {
        "en": "🕒 checking the date and time",
        "pt-BR": "🕒 vendo a data e a hora",
    },
    "agent_step_web_search": {
        "en": "🌐 searching the web for “{what}”",
        "pt-BR": "🌐 buscando na web por “{what}”",
    },
    "agent_step_wikipedia": {
        "en": "📚 looking up “{what}” on Wikipedia",
        "pt-BR": "📚 consultando “{what}” na Wikipédia",
    },
    "agent_step_fetch_page": {"en": "📄 reading {what}", "pt-BR": "📄 lendo {what}"},
    "agent_step_youtube_transcript": {
        "en": "🎬 getting the transcript of {what}",
        "pt-BR": "🎬 pegando a transcrição de {what}",
    },
    "agent_step_other": {"en": "🔧 using {name} {what}", "pt-BR": "🔧 usando {name} {what}"},
    "agent_state": {
        "en": "Agent mode is {state} here (tools: {tools}). Use /agent on or /agent off.",
        "pt-BR": "O modo agente está {state} aqui (ferramentas: {tools}). Use /agent on ou "
        "/agent off.",
    },
    "agent_state_on": {"en": "on", "pt-BR": "ligado"},
    "agent_state_off": {"en": "off", "pt-BR": "desligado"},
    "agent_on": {
        "en": "Agent mode on: I may use tools ({tools}) to answer here. /trace shows the steps "
        "of my last answer.",
        "pt-BR": "Modo agente ligado: posso usar ferramentas ({tools}) para responder aqui. "
        "/trace mostra os passos da minha última resposta.",
    },
    "agent_off": {
        "en": "Agent mode off: I answer without tools here.",
        "pt-BR": "Modo agente desligado: respondo sem ferramentas aqui.",
    },
    "agent_no_tools": {
        "en": "(Agent mode needs a model that calls tools; {model} does not, so I answer "
        "without tools.)",
        "pt-BR": "(O modo agente precisa de um modelo que chame ferramentas; {model} não chama, "
        "então respondo sem ferramentas.)",
    },
    "reason_agent_steps": {
        "en": "I gave up: this needed more than {steps} steps. Try a simpler or more specific "
        "question (/trace shows what I tried).",
        "pt-BR": "Desisti: isso precisou de mais de {steps} passos. Tente uma pergunta mais "
        "simples ou específica (/trace mostra o que tentei).",
    },
    "reason_agent_time": {
        "en": "I gave up: answering took longer than {seconds} s. Try a simpler question "
        "(/trace shows what I tried).",
        "pt-BR": "Desisti: a resposta passou de {seconds} s. Tente uma pergunta mais simples "
        "(/trace mostra o que tentei).",
    },
    "trace_empty": {
        "en": "No agent answer here yet: agent mode needs /agent on and a model that calls tools.",
        "pt-BR": "Ainda não há resposta do modo agente aqui: ele precisa de /agent on e de um "
        "modelo que chame ferramentas.",
    },
    "trace_header": {
        "en": "Steps of my last agent answer to “{question}” ({model}):",
        "pt-BR": "Passos da minha última resposta no modo agente a “{question}” ({model}):",
    },
    "trace_no_steps": {"en": "(no tool was used)", "pt-BR": "(nenhuma ferramenta foi usada)"},
    "trace_outcome_answered": {
        "en": "Answered after {calls} model calls, in {seconds} s.",
        "pt-BR": "Respondida após {calls} chamadas ao modelo, em {seconds} s.",
    },
    "trace_outcome_steps": {
        "en": "Gave up after {calls} model calls: too many steps.",
        "pt-BR": "Desisti após {calls} chamadas ao modelo: passos demais.",
    },
    "trace_outcome_time": {
        "en": "Gave up after {seconds} s: out of time.",
        "pt-BR": "Desisti após {seconds} s: tempo esgotado.",
    },
    "trace_outcome_failed": {
        "en": "Failed after {calls} model calls (the model could not be reached or erred).",
        "pt-BR": "Falhou após {calls} chamadas ao modelo (o modelo não respondeu ou errou).",
    },
    "trace_outcome_running": {
        "en": "Still running (or stopped abruptly).",
        "pt-BR": "Ainda em andamento (ou parou de repente).",
    },
    # The web page's own labels (sent to the page by bots.web).
    "page_title": {"en": "Assistant", "pt-BR": "Assistente"},
    "page_sign_in_intro": {
        "en": "Send /web to the bot in a private chat (Telegram, Discord or the terminal) and "
        "type the code here. The page will be that account: its conversation and documents.",
        "pt-BR": "Envie /web para o bot numa conversa privada (Telegram, Discord ou terminal) "
        "e digite o código aqui. A página será essa conta: a conversa e os documentos dela.",
    },
    "page_code": {"en": "Code", "pt-BR": "Código"},
    "page_sign_in": {"en": "Sign in", "pt-BR": "Entrar"},
    "page_sign_in_failed": {
        "en": "That code is wrong, used or expired. Send /web to the bot for a new one.",
        "pt-BR": "Esse código está errado, já foi usado ou expirou. Envie /web ao bot para "
        "receber outro.",
    },
    "page_too_many_tries": {
        "en": "Too many tries: wait a minute.",
        "pt-BR": "Tentativas demais: espere um minuto.",
    },
    "page_signed_in_as": {"en": "Signed in as", "pt-BR": "Conectado como"},
    "page_sign_out": {"en": "Sign out", "pt-BR": "Sair"},
    "page_message": {
        "en": "Write a message, a link or a /command",
        "pt-BR": "Escreva uma mensagem, um link ou um /comando",
    },
    "page_send": {"en": "Send", "pt-BR": "Enviar"},
    "page_documents": {"en": "Documents", "pt-BR": "Documentos"},
    "page_no_documents": {"en": "No documents yet.", "pt-BR": "Nenhum documento ainda."},
    "page_upload": {"en": "Upload a file", "pt-BR": "Enviar um arquivo"},
    "page_add_link": {"en": "Add a link", "pt-BR": "Adicionar um link"},
    "page_add": {"en": "Add", "pt-BR": "Adicionar"},
    "page_sources": {"en": "Sources", "pt-BR": "Fontes"},
    "page_admin": {"en": "Admin", "pt-BR": "Admin"},
    "page_jobs": {"en": "Jobs", "pt-BR": "Tarefas"},
    "page_download": {"en": "Download", "pt-BR": "Baixar"},
    "page_error": {
        "en": "Something went wrong; try again.",
        "pt-BR": "Algo deu errado; tente de novo.",
    },
    "status_queued": {"en": "queued", "pt-BR": "na fila"},
    "status_processing": {"en": "indexing", "pt-BR": "indexando"},
    "status_ready": {"en": "ready", "pt-BR": "pronto"},
    "status_failed": {"en": "failed", "pt-BR": "falhou"},
}


def texts_starting(prefix: str, locale: str) -> dict[str, str]:
    """Every plain string whose key starts with `prefix`, in `locale` (for the web page)."""
    return {
        key: t(key, locale)
        for key, variants in _CATALOG.items()
        if key.startswith(prefix) and isinstance(variants["en"], str)
    }


def has_text(key: str) -> bool:
    """Whether the catalog has a string for `key` (e.g. a reason code from a library)."""
    return key in _CATALOG


def t(key: str, locale: str, **values: object) -> str:
    """Return the UI string `key` in `locale` (English when missing), formatted.

    Strings with singular and plural forms take the form that `count` calls for.
    """
    variants = _CATALOG[key]
    text = variants.get(locale) or variants["en"]
    if isinstance(text, tuple):
        one, other = text
        # One rule serves both languages: "1 page"/"1 página", else the plural.
        text = one if values["count"] == 1 else other
    return text.format(**values) if values else text


def file_size(size_bytes: int) -> str:
    """A file size as users read it in limits: `25.0 MB`, or `5 KB` for small ones."""
    if size_bytes < 1024 * 1024:
        return f"{size_bytes / 1024:.0f} KB"
    return f"{size_bytes / (1024 * 1024):.1f} MB"
