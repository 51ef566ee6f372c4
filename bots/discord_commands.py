"""Discord slash commands: each defers at once, inside Discord's 3-second window, then
hands the command to the client, which fills in the deferred response.

Descriptions come from `core.commands.COMMAND_DESCRIPTIONS` (plus the options' own here),
in English and, for people using Discord in pt-BR, Portuguese. Autocomplete suggests the
configured models and the chat's documents, through the core.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, cast

import discord
from discord import app_commands

from core.commands import ADMIN_COMMANDS, COMMAND_DESCRIPTIONS
from core.service import ASK_COMMAND, ChatService
from core.types import ChatRef, Command, Identity, Incoming, Platform

# Discord shows at most 25 autocomplete suggestions, each named in at most 100 characters.
MAX_AUTOCOMPLETE_CHOICES = 25
MAX_CHOICE_NAME_CHARS = 100


class CommandHost(Protocol):
    """What the commands need of the client (AssistantClient)."""

    service: ChatService

    async def answer_command(self, interaction: discord.Interaction, command: Command) -> None: ...


def identity_of(user: discord.abc.User) -> Identity:
    """The core's view of a Discord user (`dc:<id>`)."""
    return Identity(Platform.DISCORD, str(user.id), display_name=user.display_name)


def manages_server(user: discord.abc.User) -> Callable[[], Awaitable[bool]]:
    """Whether a member may administer the server's data: Discord's Manage Server."""

    async def check() -> bool:
        return isinstance(user, discord.Member) and user.guild_permissions.manage_guild

    return check


def may_manage_server(interaction: discord.Interaction) -> Callable[[], Awaitable[bool]]:
    """Manage Server, as Discord resolved it for the member who ran the command."""

    async def check() -> bool:
        return interaction.guild_id is not None and interaction.permissions.manage_guild

    return check


def chat_of(channel: Any, channel_id: int) -> ChatRef:
    """The core's view of a channel; a thread is a chat of its own."""
    is_private = isinstance(channel, discord.DMChannel)
    return ChatRef(Platform.DISCORD, str(channel_id), is_private=is_private)


# Descriptions of what only Discord has (the command options); the commands' own come
# from core.commands.COMMAND_DESCRIPTIONS.
DISCORD_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "ask.question": {"en": "Your question", "pt-BR": "Sua pergunta"},
    "model.name": {"en": "Model to switch to", "pt-BR": "Modelo para usar"},
    "lang.language": {"en": "Language for my messages", "pt-BR": "Idioma das minhas mensagens"},
    "forget.document": {"en": "Document name or id", "pt-BR": "Nome ou id do documento"},
    "reindex.what": {
        "en": "all, here, or a document name or id",
        "pt-BR": "all, here, ou nome ou id de documento",
    },
    "agent.mode": {"en": "on or off", "pt-BR": "on ou off"},
    "access.who": {"en": "Identity, e.g. dc:123 or tg:456", "pt-BR": "Identidade, ex.: dc:123"},
}
_DESCRIPTIONS = {**COMMAND_DESCRIPTIONS, **DISCORD_DESCRIPTIONS}
_PT_BR_BY_ENGLISH = {texts["en"]: texts["pt-BR"] for texts in _DESCRIPTIONS.values()}


def _describe(key: str) -> str:
    return _DESCRIPTIONS[key]["en"]


def incoming_from_interaction(interaction: discord.Interaction, command: Command) -> Incoming:
    """Translate a slash command; the user's Discord locale is the language hint."""
    return Incoming(
        user=identity_of(interaction.user),
        chat=chat_of(interaction.channel, interaction.channel_id or 0),
        text="",
        command=command,
        is_addressed=True,
        language_hint=str(interaction.locale),
        chat_admin_check=may_manage_server(interaction),
        delivery_id=f"dc:interaction:{interaction.id}",
    )


# Slash commands. Each defers at once and hands the rest to AssistantClient.answer_command.


def _client(interaction: discord.Interaction) -> CommandHost:
    return cast(CommandHost, interaction.client)


@app_commands.describe(question=_describe("ask.question"))
async def ask(interaction: discord.Interaction, question: str) -> None:
    """Answers a question, streaming the reply."""
    await _client(interaction).answer_command(interaction, Command(ASK_COMMAND, question))


async def start(interaction: discord.Interaction) -> None:
    """Greets the user."""
    await _client(interaction).answer_command(interaction, Command("start"))


async def help_(interaction: discord.Interaction) -> None:
    """Lists the commands."""
    await _client(interaction).answer_command(interaction, Command("help"))


async def reset(interaction: discord.Interaction) -> None:
    """Forgets this conversation."""
    await _client(interaction).answer_command(interaction, Command("reset"))


async def history(interaction: discord.Interaction) -> None:
    """Shows what the bot remembers of this conversation."""
    await _client(interaction).answer_command(interaction, Command("history"))


async def model_names(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Suggests the configured models that match what was typed so far."""
    names = _client(interaction).service.deps.models.choices()
    matching = [name for name in names if current.lower() in name.lower()]
    return [app_commands.Choice(name=n, value=n) for n in matching[:MAX_AUTOCOMPLETE_CHOICES]]


@app_commands.describe(name=_describe("model.name"))
@app_commands.autocomplete(name=model_names)
async def model(interaction: discord.Interaction, name: str | None = None) -> None:
    """Shows the model in use, or switches to `name`."""
    await _client(interaction).answer_command(interaction, Command("model", name or ""))


@app_commands.describe(language=_describe("lang.language"))
@app_commands.choices(
    language=[
        app_commands.Choice(name="English", value="en"),
        app_commands.Choice(name="Português (Brasil)", value="pt-BR"),
    ]
)
async def lang(interaction: discord.Interaction, language: str | None = None) -> None:
    """Shows or sets the language of the bot's messages."""
    await _client(interaction).answer_command(interaction, Command("lang", language or ""))


async def docs(interaction: discord.Interaction) -> None:
    """Lists the documents learned in this chat."""
    await _client(interaction).answer_command(interaction, Command("docs"))


async def document_names(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Suggests this chat's documents whose title or id matches what was typed so far."""
    incoming = incoming_from_interaction(interaction, Command("forget", current))
    choices = await _client(interaction).service.document_choices(incoming, current.strip())
    return [
        app_commands.Choice(name=_choice_name(title, short_id), value=short_id)
        for title, short_id in choices[:MAX_AUTOCOMPLETE_CHOICES]
    ]


def _choice_name(title: str, short_id: str) -> str:
    """`title [id]`, the title shortened to fit Discord's 100 characters."""
    suffix = f" [{short_id}]"
    room = MAX_CHOICE_NAME_CHARS - len(suffix)
    shown = title if len(title) <= room else title[: room - 1] + "…"
    return shown + suffix


@app_commands.describe(document=_describe("forget.document"))
@app_commands.autocomplete(document=document_names)
async def forget(interaction: discord.Interaction, document: str) -> None:
    """Forgets one document and everything indexed from it."""
    await _client(interaction).answer_command(interaction, Command("forget", document))


async def sources(interaction: discord.Interaction) -> None:
    """Shows the passages behind the last answer."""
    await _client(interaction).answer_command(interaction, Command("sources"))


@app_commands.describe(document=_describe("forget.document"))
@app_commands.autocomplete(document=document_names)
async def summary(interaction: discord.Interaction, document: str = "") -> None:
    """Shows the summary of a document or video again."""
    await _client(interaction).answer_command(interaction, Command("summary", document))


@app_commands.describe(document=_describe("forget.document"))
@app_commands.autocomplete(document=document_names)
async def transcript(interaction: discord.Interaction, document: str = "") -> None:
    """Shows the timed transcript of a video or audio."""
    await _client(interaction).answer_command(interaction, Command("transcript", document))


@app_commands.describe(document=_describe("forget.document"))
@app_commands.autocomplete(document=document_names)
async def retry(interaction: discord.Interaction, document: str) -> None:
    """Admins: indexes a failed document again."""
    await _client(interaction).answer_command(interaction, Command("retry", document))


async def quota(interaction: discord.Interaction, who: str = "", answers: str = "") -> None:
    """Shows your usage and limit today; admins set someone's daily answers."""
    args = f"{who} {answers}".strip()
    await _client(interaction).answer_command(interaction, Command("quota", args))


@app_commands.describe(who=_describe("access.who"))
async def allow(interaction: discord.Interaction, who: str) -> None:
    """Admins: lets someone in."""
    await _client(interaction).answer_command(interaction, Command("allow", who))


@app_commands.describe(who=_describe("access.who"))
async def block(interaction: discord.Interaction, who: str) -> None:
    """Admins: blocks someone."""
    await _client(interaction).answer_command(interaction, Command("block", who))


@app_commands.describe(what=_describe("reindex.what"))
async def reindex(interaction: discord.Interaction, what: str = "here") -> None:
    """Re-embeds documents: all, here, or one."""
    await _client(interaction).answer_command(interaction, Command("reindex", what))


async def export(interaction: discord.Interaction) -> None:
    """Sends everything kept about you as a file."""
    await _client(interaction).answer_command(interaction, Command("export"))


async def jobs(interaction: discord.Interaction, action: str = "", number: str = "") -> None:
    """Admins: background jobs; retry or cancel one by number."""
    args = f"{action} {number}".strip()
    await _client(interaction).answer_command(interaction, Command("jobs", args))


async def link(interaction: discord.Interaction, code: str = "") -> None:
    """Joins your accounts on Telegram, Discord and the terminal."""
    await _client(interaction).answer_command(interaction, Command("link", code))


async def web(interaction: discord.Interaction) -> None:
    """Gives a one-time code that signs the web page in as you."""
    await _client(interaction).answer_command(interaction, Command("web"))


async def stats(interaction: discord.Interaction) -> None:
    """Admins: usage and health at a glance."""
    await _client(interaction).answer_command(interaction, Command("stats"))


@app_commands.describe(mode=_describe("agent.mode"))
@app_commands.choices(
    mode=[app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")]
)
async def agent(interaction: discord.Interaction, mode: str | None = None) -> None:
    """Shows or switches agent mode (tools) in this chat."""
    await _client(interaction).answer_command(interaction, Command("agent", mode or ""))


async def trace(interaction: discord.Interaction) -> None:
    """Shows the steps behind the last agent answer."""
    await _client(interaction).answer_command(interaction, Command("trace"))


SLASH_COMMANDS: dict[str, Callable[..., Coroutine[Any, Any, None]]] = {
    "ask": ask,
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
    "export": export,
    "jobs": jobs,
    "link": link,
    "web": web,
    "agent": agent,
    "trace": trace,
}
# Who may see admin commands in a server's menu by default (server admins can widen it);
# the core checks ADMIN_IDS whatever the menu shows.
ADMIN_MENU_PERMISSIONS = discord.Permissions(manage_guild=True)


def build_commands() -> list[app_commands.Command[Any, ..., None]]:
    """Fresh slash command objects for one client's tree."""
    commands = []
    for name, callback in SLASH_COMMANDS.items():
        command: app_commands.Command[Any, ..., None] = app_commands.Command(
            name=name, description=_describe(name), callback=cast(Any, callback)
        )
        if name in ADMIN_COMMANDS:
            command.default_permissions = ADMIN_MENU_PERMISSIONS
        commands.append(command)
    return commands


class PortugueseDescriptions(app_commands.Translator):
    """Gives slash commands their pt-BR descriptions, shown to people using Discord in pt-BR."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if locale is not discord.Locale.brazil_portuguese:
            return None
        return _PT_BR_BY_ENGLISH.get(string.message)
