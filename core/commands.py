"""Commands with one meaning on every platform. Each handler returns the text to show."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from core.agent.mode import is_agent_on, set_agent_mode
from core.agent.trace import render_trace
from core.deps import CoreDeps
from core.errors import ReasonedError, explain
from core.i18n import SUPPORTED_LOCALES, file_size, has_text, normalise_locale, t
from core.jobs import LONG_SUMMARY
from core.knowledge.documents import Document, scope_for
from core.knowledge.progress import JobTarget
from core.knowledge.summary import first_sentences
from core.personal_data import erase, export
from core.stats import collect_stats
from core.types import Command, Incoming, Notice
from core.users import UserRecord

HISTORY_PREVIEW_CHARS = 400


@dataclass(frozen=True)
class CommandContext:
    """What a command handler may look at."""

    incoming: Incoming
    user: UserRecord
    locale: str
    deps: CoreDeps
    args_override: str | None = None  # the arguments left once a handler took its options

    @property
    def args(self) -> str:
        if self.args_override is not None:
            return self.args_override.strip()
        return self.incoming.command.args.strip() if self.incoming.command else ""


# Most commands answer with text; some attach a file and answer with a whole Notice.
Handler = Callable[[CommandContext], Awaitable[str | Notice]]


async def start(ctx: CommandContext) -> str:
    """Greets the user."""
    name = ctx.incoming.user.display_name
    return t("start", ctx.locale, name=f", {name}" if name else "")


async def help_(ctx: CommandContext) -> str:
    """Lists the commands."""
    return t("help", ctx.locale)


async def reset(ctx: CommandContext) -> str:
    """Forgets this conversation."""
    await ctx.deps.memory.reset(ctx.incoming.conversation_key)
    return t("reset_done", ctx.locale)


async def history(ctx: CommandContext) -> str:
    """Shows the remembered turns and the running summary of this conversation."""
    conversation = await ctx.deps.memory.load(ctx.incoming.conversation_key)
    if conversation.is_empty:
        return t("history_empty", ctx.locale)
    messages = t("history_messages", ctx.locale, count=len(conversation.turns))
    lines = [t("history_header", ctx.locale, messages=messages, tokens=conversation.tokens)]
    if conversation.summary:
        lines += ["", t("history_summary", ctx.locale), conversation.summary]
    if conversation.pending_count:
        lines += ["", t("history_pending", ctx.locale, count=conversation.pending_count)]
    if conversation.turns:
        lines.append("")
    for turn in conversation.turns:
        speaker = t("role_human" if turn.role == "human" else "role_ai", ctx.locale)
        lines.append(f"{speaker}: {_preview(turn.content)}")
    return "\n".join(lines)


async def model(ctx: CommandContext) -> str:
    """Shows the model in use, or switches to another configured one."""
    registry = ctx.deps.models
    choices = ", ".join(registry.choices())
    wanted = ctx.args
    if not wanted:
        current = ctx.user.model if ctx.user.model in registry.choices() else registry.default
        return t("model_current", ctx.locale, model=current, choices=choices)
    if wanted not in registry.choices():
        return t("model_unknown", ctx.locale, model=wanted, choices=choices)
    await ctx.deps.users.set_model(ctx.user.identity, wanted)
    return t("model_switched", ctx.locale, model=wanted)


async def lang(ctx: CommandContext) -> str:
    """Shows or sets the language of UI strings."""
    if not ctx.args:
        return t("lang_current", ctx.locale, language=ctx.locale)
    locale = normalise_locale(ctx.args)
    if locale not in SUPPORTED_LOCALES:
        return t("lang_unknown", ctx.locale)
    await ctx.deps.users.set_locale(ctx.user.identity, locale)
    return t("lang_set", locale)


async def docs(ctx: CommandContext) -> str:
    """Lists the documents of this chat's knowledge base."""
    documents = await ctx.deps.knowledge.documents.list([scope_for(ctx.incoming)])
    if not documents:
        return t("docs_empty", ctx.locale)
    lines = [t("docs_header", ctx.locale)]
    for document in documents:
        status = t(f"status_{document.status}", ctx.locale)
        size = f"{document.size_bytes / 1024:.0f} KB" if document.size_bytes else ""
        created = document.created_at.strftime("%Y-%m-%d") if document.created_at else ""
        chunks = t("docs_chunks", ctx.locale, count=document.chunk_count)
        details = ", ".join(part for part in (document.kind, size, chunks, status, created) if part)
        lines.append(f"• {document.title} [{document.short_id}] ({details})")
    return "\n".join(lines)


EVERYTHING_OF_MINE = ("all", "tudo")
CONFIRMED = ("yes", "sim")


async def forget(ctx: CommandContext) -> str:
    """Removes one document and all of its chunks (in a group: its uploader or an admin),
    or, with `all`, everything kept about the sender once they confirm."""
    if not ctx.args:  # never guess which document to delete
        return t("forget_usage", ctx.locale)
    first, _, rest = ctx.args.lower().partition(" ")
    if first in EVERYTHING_OF_MINE:
        if rest.strip() not in CONFIRMED:
            return t("forget_all_confirm", ctx.locale, command=f"/forget {first}")
        erased = await erase(ctx.deps, ctx.incoming.owner)
        return t(
            "forget_all_done",
            ctx.locale,
            documents=erased.documents,
            conversations=erased.conversations,
        )
    document, problem = await _one_document(ctx)
    if document is None:
        return problem
    if not await _may_change(ctx, document):
        return t("forget_not_yours", ctx.locale, name=document.title)
    await ctx.deps.knowledge.documents.delete(document.id)
    return t("forget_done", ctx.locale, name=document.title)


async def _may_change(ctx: CommandContext, document: Document) -> bool:
    """Whose a document is: its uploader's, the group's administrators' and bot admins'."""
    return (
        document.added_by == ctx.incoming.user.key
        or ctx.user.is_admin
        or await ctx.incoming.is_chat_admin()
    )


async def _one_document(
    ctx: CommandContext, *, everywhere: bool = False
) -> tuple[Document | None, str]:
    """The document named in the arguments (or the newest one): (document, or why not).

    It is looked for in this chat's scope, or in every scope when `everywhere` (bot admins
    naming a document from someone else's private chat by its id).
    """
    scopes = None if everywhere else [scope_for(ctx.incoming)]
    documents = ctx.deps.knowledge.documents
    if ctx.args:
        matches = await documents.find(scopes, ctx.args)
    else:
        matches = await documents.list(scopes or [scope_for(ctx.incoming)])
    if not matches:
        key = "forget_not_found" if ctx.args else "docs_empty"
        return None, t(key, ctx.locale, reference=ctx.args)
    exact = [d for d in matches if d.id.startswith(ctx.args.lower())] if ctx.args else []
    candidates = exact or matches
    if ctx.args and len(candidates) > 1:
        names = ", ".join(f"{d.title} [{d.short_id}]" for d in candidates[:5])
        return None, t("forget_ambiguous", ctx.locale, reference=ctx.args, names=names)
    return candidates[0], ""


SUMMARY_LENGTHS = {"short": "short", "curto": "short", "long": "long", "longo": "long"}


async def summary(ctx: CommandContext) -> str:
    """Shows the summary of a document or video again, or a short or long one on request."""
    reference, length = _split_length(ctx.args)
    document, problem = await _one_document(replace(ctx, args_override=reference))
    if document is None:
        return problem
    if length == "long":
        # Heavy model work runs on a worker; the summary arrives through the outbox.
        target = JobTarget(ctx.incoming.chat, ctx.incoming.user.key, ctx.locale)
        await ctx.deps.jobs.defer(
            LONG_SUMMARY,
            lock=f"long-summary:{document.id}:{ctx.incoming.chat.key}",
            document_id=document.id,
            **target.as_kwargs(),
        )
        return t("summary_long_queued", ctx.locale, title=document.title)
    if not document.summary:
        return t("summary_none", ctx.locale)
    if length == "short":
        return f"{document.title}\n\n{first_sentences(document.summary, 2)}"
    questions = "\n".join(f"• {q}" for q in document.suggested_questions)
    return f"{document.title}\n\n{document.summary}" + (f"\n\n{questions}" if questions else "")


def _split_length(args: str) -> tuple[str, str]:
    """`report long` → ("report", "long"); no length word → (args, "")."""
    words = args.split()
    if words and words[-1].lower() in SUMMARY_LENGTHS:
        return " ".join(words[:-1]), SUMMARY_LENGTHS[words[-1].lower()]
    return args, ""


async def transcript(ctx: CommandContext) -> str | Notice:
    """Sends the timed transcript of a video or audio as a text file."""
    document, problem = await _one_document(ctx)
    if document is None:
        return problem
    lines = await ctx.deps.knowledge.retrieval.transcript_lines(document)
    if not lines:
        return t("transcript_none", ctx.locale)
    content = f"{document.title}\n\n" + "\n".join(lines) + "\n"
    return Notice(
        t(
            "transcript_attached",
            ctx.locale,
            name=document.title,
            lines=t("transcript_lines", ctx.locale, count=len(lines)),
        ),
        file_name=f"{_file_stem(document.title)}-transcript.txt",
        file_data=content.encode(),
    )


def _file_stem(title: str) -> str:
    """A title made safe as a file name."""
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in title.strip())
    return stem.strip("-")[:60] or "transcript"


async def retry(ctx: CommandContext) -> str:
    """Admins only: puts a failed document or video back in line for indexing."""
    if not ctx.user.is_admin:
        return t("admins_only", ctx.locale)
    # A failure in someone's private chat tells them an admin can retry it: by its id.
    document, problem = await _one_document(ctx, everywhere=True)
    if document is None:
        return problem
    intake = ctx.deps.knowledge.intake
    notice = await intake.retry(document, ctx.locale)
    await intake.start_indexing(document.id, ctx.incoming, ctx.locale)
    return notice.text


async def quota(ctx: CommandContext) -> str:
    """Your usage today and your limit; admins set someone's: `/quota tg:123 50|default`."""
    if ctx.args:
        return await _set_quota(ctx)
    limits = ctx.deps.limits
    usage = await ctx.deps.users.usage_today(ctx.incoming.owner)
    tokens = usage.input_tokens + usage.output_tokens
    daily = limits.daily_quota(ctx.user)
    if not daily:
        return t("quota_unlimited", ctx.locale, count=usage.messages, tokens=tokens)
    return t(
        "quota_status",
        ctx.locale,
        count=usage.messages,
        quota=daily,
        tokens=tokens,
        resets_in=limits.resets_in(),
    )


async def _set_quota(ctx: CommandContext) -> str:
    if not ctx.user.is_admin:
        return t("admins_only", ctx.locale)
    identity, _, amount = ctx.args.partition(" ")
    amount = amount.strip().lower()
    if amount not in ("default", "padrão") and not amount.isdigit():
        return t("quota_usage", ctx.locale)
    value = None if not amount.isdigit() else int(amount)
    if not await ctx.deps.users.set_daily_quota(identity, value):
        return t("user_unknown", ctx.locale, identity=identity)
    shown = t("quota_default", ctx.locale) if value is None else str(value)
    return t("quota_set", ctx.locale, identity=identity, quota=shown)


async def allow(ctx: CommandContext) -> str:
    """Admins: let someone in (allow-list mode) and lift a block: `/allow tg:123`."""
    return await _set_access(ctx, is_blocked=False, done_key="allow_done")


async def block(ctx: CommandContext) -> str:
    """Admins: stop answering someone, who hears one polite line: `/block tg:123`."""
    return await _set_access(ctx, is_blocked=True, done_key="block_done")


async def _set_access(ctx: CommandContext, *, is_blocked: bool, done_key: str) -> str:
    if not ctx.user.is_admin:
        return t("admins_only", ctx.locale)
    identity = ctx.args.strip()
    if not identity:
        return t("access_usage", ctx.locale)
    users = ctx.deps.users
    if not await users.set_access(identity, is_allowed=not is_blocked, is_blocked=is_blocked):
        return t("user_unknown", ctx.locale, identity=identity)
    return t(done_key, ctx.locale, identity=identity)


async def stats(ctx: CommandContext) -> str:
    """Admins: people, usage, knowledge and jobs at a glance."""
    if not ctx.user.is_admin:
        return t("admins_only", ctx.locale)
    numbers = await collect_stats(ctx.deps.pool)
    return t("stats", ctx.locale, size=file_size(numbers.stored_bytes), **vars(numbers))


EVERYTHING = ("", "all", "tudo")
THIS_CHAT = ("here", "aqui")


async def reindex(ctx: CommandContext) -> str:
    """Re-embeds from stored originals: `/reindex` everything (bot admins), `/reindex here`
    this chat's documents, `/reindex <doc>` one (its uploader or an admin)."""
    where = ctx.args.lower()
    knowledge = ctx.deps.knowledge
    if where in EVERYTHING:
        if not ctx.user.is_admin:
            return t("admins_only", ctx.locale)
        return t("reindex_queued", ctx.locale, count=await knowledge.reindex())
    if where in THIS_CHAT:
        incoming = ctx.incoming
        if not (incoming.chat.is_private or ctx.user.is_admin or await incoming.is_chat_admin()):
            return t("admins_only", ctx.locale)
        try:
            count = await knowledge.reindex([scope_for(incoming)])
        except ReasonedError as exc:  # the model changed: only everything at once can move
            return explain(exc, ctx.locale)
        return t("reindex_queued", ctx.locale, count=count)
    document, problem = await _one_document(ctx, everywhere=ctx.user.is_admin)
    if document is None:
        return problem
    if not await _may_change(ctx, document):
        return t("forget_not_yours", ctx.locale, name=document.title)
    notice = await knowledge.intake.retry(document, ctx.locale)
    await knowledge.intake.start_indexing(document.id, ctx.incoming, ctx.locale)
    return notice.text


async def export_data(ctx: CommandContext) -> Notice:
    """Sends everything kept about the sender as a JSON file."""
    owner = ctx.incoming.owner
    return Notice(
        t("export_attached", ctx.locale),
        file_name=f"{_file_stem(owner)}-data.json",
        file_data=await export(ctx.deps, owner),
    )


async def link(ctx: CommandContext) -> str:
    """Joins your accounts: `/link` gives a code, `/link CODE` on the other account uses it."""
    if not ctx.incoming.chat.is_private:  # a code shown in a group could be used by anyone
        return t("link_private_only", ctx.locale)
    people = ctx.deps.people
    identity = ctx.incoming.user.key
    if not ctx.args:
        code = await people.start_link(identity, ctx.incoming.conversation_key)
        return t("link_code", ctx.locale, code=code)
    person = await people.complete_link(identity, ctx.args)
    if person is None:
        return t("link_bad_code", ctx.locale)
    return t("link_done", ctx.locale, person=person)


async def web(ctx: CommandContext) -> str:
    """Gives a one-time code (and a link, with WEB_PUBLIC_URL) that signs the web page in."""
    if not ctx.incoming.chat.is_private:  # a code shown in a group could be used by anyone
        return t("web_private_only", ctx.locale)
    code = await ctx.deps.web_access.issue_code(ctx.incoming)
    page = ctx.deps.settings.web_public_url
    link = t("web_link", ctx.locale, url=f"{page}/?code={code}") if page else ""
    return t("web_code", ctx.locale, code=code, link=link)


JOBS_SHOWN = 15


async def jobs(ctx: CommandContext) -> str:
    """Admins: failed, running and waiting jobs; `/jobs retry <id>`, `/jobs cancel <id>`."""
    if not ctx.user.is_admin:
        return t("admins_only", ctx.locale)
    queue = ctx.deps.jobs
    action, _, job_id = ctx.args.lower().partition(" ")
    if action in ("retry", "cancel"):
        if not job_id.strip().isdigit():
            return t("jobs_usage", ctx.locale)
        number = int(job_id)
        is_done = await (queue.retry(number) if action == "retry" else queue.cancel(number))
        return t(f"jobs_{action}_{'done' if is_done else 'refused'}", ctx.locale, id=number)
    listed = await queue.recent(("doing", "failed", "todo"), limit=JOBS_SHOWN)
    if not listed:
        return t("jobs_none", ctx.locale)
    lines = [t("jobs_header", ctx.locale)]
    for job in listed:
        subject = f" {job.subject[:8]}" if job.subject else ""
        status = t(f"job_{job.status}", ctx.locale) if has_text(f"job_{job.status}") else job.status
        lines.append(f"#{job.id} {job.task}{subject}: {status} ({job.attempts})")
    return "\n".join(lines + ["", t("jobs_usage", ctx.locale)])


async def sources(ctx: CommandContext) -> str:
    """Shows the passages behind the last answer by their quotes; `/sources N` shows one whole."""
    passages = await ctx.deps.knowledge.retrieval.last_sources(ctx.incoming.conversation_key)
    if not passages:
        return t("sources_empty", ctx.locale)
    if ctx.args:
        if not (ctx.args.isdigit() and 0 < int(ctx.args) <= len(passages)):
            return t("sources_usage", ctx.locale, count=len(passages))
        number = int(ctx.args)
        passage = passages[number - 1]
        return f"[{number}] {passage['cite']}\n\n{passage['text']}"
    lines = [t("sources_header", ctx.locale)]
    for number, passage in enumerate(passages, start=1):
        lines.append(f"\n[{number}] {passage['cite']}\n“{passage['quote']}”")
    return "\n".join(lines + ["", t("sources_usage", ctx.locale, count=len(passages))])


AGENT_ON = ("on", "ligar", "sim")
AGENT_OFF = ("off", "desligar", "nao", "não")


async def agent(ctx: CommandContext) -> str:
    """Shows or switches agent mode (tools) for this conversation: `/agent on|off`."""
    deps, key = ctx.deps, ctx.incoming.conversation_key
    tools = ", ".join(deps.settings.agent_tools) or "-"
    wanted = ctx.args.lower()
    if wanted in AGENT_ON + AGENT_OFF:
        is_on = wanted in AGENT_ON
        await set_agent_mode(deps.redis, key, is_on=is_on)
        return t("agent_on", ctx.locale, tools=tools) if is_on else t("agent_off", ctx.locale)
    is_on = await is_agent_on(deps.redis, key, default=deps.settings.agent_mode_default)
    state = t("agent_state_on" if is_on else "agent_state_off", ctx.locale)
    return t("agent_state", ctx.locale, state=state, tools=tools)


async def trace(ctx: CommandContext) -> str:
    """Shows the steps (tool calls, arguments, results) behind the last agent answer."""
    last = await ctx.deps.traces.last(ctx.incoming.conversation_key)
    return t("trace_empty", ctx.locale) if last is None else render_trace(last, ctx.locale)


COMMANDS: dict[str, Handler] = {
    "start": start,
    "help": help_,
    "reset": reset,
    "history": history,
    "model": model,
    "lang": lang,
    "docs": docs,
    "forget": forget,
    "sources": sources,
    "summary": summary,
    "transcript": transcript,
    "retry": retry,
    "quota": quota,
    "allow": allow,
    "block": block,
    "stats": stats,
    "reindex": reindex,
    "export": export_data,
    "jobs": jobs,
    "link": link,
    "web": web,
    "agent": agent,
    "trace": trace,
}

# One-line descriptions that adapters publish as the platform's command menu.
COMMAND_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "ask": {
        "en": "Ask about your documents (or anything)",
        "pt-BR": "Pergunte sobre seus documentos (ou qualquer coisa)",
    },
    "start": {"en": "Say hello", "pt-BR": "Dizer oi"},
    "help": {"en": "What I can do", "pt-BR": "O que eu sei fazer"},
    "reset": {"en": "Forget this conversation", "pt-BR": "Esquecer esta conversa"},
    "history": {"en": "What I remember here", "pt-BR": "O que eu lembro aqui"},
    "model": {"en": "Show or switch the model", "pt-BR": "Ver ou trocar o modelo"},
    "lang": {"en": "Show or set my language", "pt-BR": "Ver ou definir meu idioma"},
    "docs": {"en": "Documents I learned here", "pt-BR": "Documentos que aprendi aqui"},
    "forget": {"en": "Forget a document", "pt-BR": "Esquecer um documento"},
    "sources": {"en": "Passages behind my last answer", "pt-BR": "Trechos da última resposta"},
    "summary": {"en": "Summary of a document or video", "pt-BR": "Resumo de um documento ou vídeo"},
    "transcript": {
        "en": "Transcript of a video or audio",
        "pt-BR": "Transcrição de vídeo ou áudio",
    },
    "retry": {
        "en": "Admins: index a failed document again",
        "pt-BR": "Admins: indexar de novo um documento que falhou",
    },
    "quota": {"en": "Your usage and limit today", "pt-BR": "Seu uso e limite de hoje"},
    "allow": {"en": "Admins: let someone in", "pt-BR": "Admins: liberar alguém"},
    "block": {"en": "Admins: block someone", "pt-BR": "Admins: bloquear alguém"},
    "stats": {"en": "Admins: usage and health", "pt-BR": "Admins: uso e saúde"},
    "reindex": {
        "en": "Re-embed documents: all, here, or one",
        "pt-BR": "Reindexar documentos: todos, aqui, ou um",
    },
    "export": {"en": "Everything I keep about you", "pt-BR": "Tudo que guardo sobre você"},
    "jobs": {"en": "Admins: background jobs", "pt-BR": "Admins: tarefas em segundo plano"},
    "link": {
        "en": "Be one person on Telegram, Discord and here",
        "pt-BR": "Ser uma pessoa só no Telegram, Discord e aqui",
    },
    "web": {
        "en": "A code to sign in to the web page",
        "pt-BR": "Um código para entrar na página web",
    },
    "agent": {
        "en": "Let me use tools here: on or off",
        "pt-BR": "Me deixar usar ferramentas aqui: on ou off",
    },
    "trace": {
        "en": "Steps behind my last agent answer",
        "pt-BR": "Passos da minha última resposta como agente",
    },
}

# Commands only bot admins may run; platforms with permissions hide them from others.
ADMIN_COMMANDS = frozenset({"retry", "allow", "block", "stats", "jobs"})


def command_from_text(text: str) -> Command | None:
    """`/name args` typed as plain text (terminal, Discord messages) → a `Command`."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2 or stripped[1].isspace():
        return None
    name, _, args = stripped[1:].partition(" ")
    return Command(name.lower(), args.strip())


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= HISTORY_PREVIEW_CHARS else flat[: HISTORY_PREVIEW_CHARS - 1] + "…"
