"""The Telegram adapter: Bot API updates in, the core's events out through the delivery layer.

Wiring only. A message becomes a `core.types.Incoming` (bots.telegram_incoming);
`ChatService.handle` decides everything else; its events are shown on a `TelegramChat`
(bots.telegram_messenger) by the one delivery layer (bots.delivery), which also edits
job status messages from the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bots.delivery import deliver_events, deliver_outbox_message, remember_in
from bots.telegram_incoming import to_incoming
from bots.telegram_messenger import ChatRateLimiter, TelegramChat
from core.commands import ADMIN_COMMANDS, COMMAND_DESCRIPTIONS
from core.deps import CoreDeps
from core.errors import ReasonedError, explain
from core.i18n import normalise_locale, t
from core.service import ASK_COMMAND, ChatService
from core.settings import ConfigError, Settings
from core.types import Incoming, OutboxMessage, Platform

logger = logging.getLogger(__name__)

# Only plain messages matter to this bot; edits, channel posts and the rest are not fetched.
ALLOWED_UPDATES = [Update.MESSAGE]
WEBHOOK_LISTEN_ADDRESS = "0.0.0.0"
# Telegram's menu languages: the default list, then one per language_code.
MENU_LANGUAGES: tuple[tuple[str | None, str], ...] = ((None, "en"), ("pt", "pt-BR"))


def build_application(deps: CoreDeps) -> Application:
    """One `Application` with its handler, error handler, rate limiter and command menu."""
    settings = deps.settings
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN: required to run the Telegram bot")
    application = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_base_url(settings.telegram_api_base_url))
        .local_mode(settings.telegram_local_mode)
        .rate_limiter(ChatRateLimiter())
        # One slow answer must not hold up everybody else's; no handler keeps state here.
        .concurrent_updates(True)
        .build()
    )
    handlers = TelegramHandlers(ChatService(deps), settings)
    # Every new message: the core answers text, captions, files, voice and video, and
    # says why for what it cannot use; to_incoming drops service messages.
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGE, handlers.on_message))
    application.add_error_handler(handlers.on_error)
    return application


async def serve(deps: CoreDeps) -> None:
    """Runs the Telegram bot until cancelled."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    application = build_application(deps)
    async with application:
        # The manual lifecycle never calls post_init (only run_polling/run_webhook do).
        await publish_commands(application, deps.settings.admin_ids)
        await application.start()
        try:
            await start_receiving(application, deps.settings)
            logger.info("Telegram bot @%s is up", application.bot.username)
            await deliver_outbox(deps, application)
        finally:
            # Stop in reverse order; the application refuses to shut down while running.
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            await application.stop()


async def start_receiving(application: Application, settings: Settings) -> None:
    """Poll for updates, or listen on a webhook when TELEGRAM_WEBHOOK_URL is set."""
    updater = application.updater
    assert updater is not None  # the builder always makes one
    url = settings.telegram_webhook_url
    if not url:
        await updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        return
    secret = settings.telegram_webhook_secret
    if secret is None:
        logger.warning("TELEGRAM_WEBHOOK_SECRET is not set: anyone can post fake updates")
    await updater.start_webhook(
        listen=WEBHOOK_LISTEN_ADDRESS,
        port=settings.telegram_webhook_port,
        url_path=urlsplit(url).path.lstrip("/"),
        webhook_url=url,
        allowed_updates=ALLOWED_UPDATES,
        secret_token=secret.get_secret_value() if secret else None,
    )


async def deliver_outbox(deps: CoreDeps, application: Application) -> None:
    """Send what workers left in the Telegram outbox, until cancelled."""

    async def deliver(message: OutboxMessage) -> None:
        chat = TelegramChat(application.bot, message.chat.id, is_group=not message.chat.is_private)
        await deliver_outbox_message(chat, deps.outbox, Platform.TELEGRAM, message)

    # A stable name lets a restarted bot pick up what it had read but not delivered;
    # one per replica, so no replica re-reads what another one is delivering.
    consumer = f"telegram@{deps.settings.replica()}"
    await deps.outbox.deliver_forever(Platform.TELEGRAM, consumer, deliver)


async def publish_commands(application: Application, admin_ids: Sequence[str] = ()) -> None:
    """Publish the command menu in English (the default) and Portuguese.

    Everyone's menu leaves out the admin commands; each admin's private chat shows them.
    """
    admin_chats = [key.partition(":")[2] for key in admin_ids if key.startswith("tg:")]
    for language_code, locale in MENU_LANGUAGES:

        def menu(names: list[str], locale: str = locale) -> list[BotCommand]:
            return [
                BotCommand(
                    name, COMMAND_DESCRIPTIONS[name].get(locale) or COMMAND_DESCRIPTIONS[name]["en"]
                )
                for name in names
            ]

        everyone = [name for name in COMMAND_DESCRIPTIONS if name not in ADMIN_COMMANDS]
        await application.bot.set_my_commands(menu(everyone), language_code=language_code)
        for chat_id in admin_chats:
            await application.bot.set_my_commands(
                menu(list(COMMAND_DESCRIPTIONS)),
                scope=BotCommandScopeChat(int(chat_id)),
                language_code=language_code,
            )


def file_base_url(api_base_url: str) -> str:
    """`https://api.telegram.org/bot` → `https://api.telegram.org/file/bot`, local servers alike."""
    base = api_base_url.rstrip("/")
    head, separator, tail = base.rpartition("/bot")
    if separator and not tail:
        return f"{head}/file/bot"
    return f"{base}/file/bot"


class TelegramHandlers:
    """The update handlers: a message becomes an `Incoming`, its answer goes to the chat."""

    def __init__(self, service: ChatService, settings: Settings) -> None:
        self.service = service
        self.settings = settings

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answers always in private; in groups when mentioned, replied to or commanded."""
        message = update.message
        if message is None:
            return
        incoming = to_incoming(message, context.bot)
        if incoming is None or not ChatService.should_answer(incoming):
            return
        await deliver_events(
            self.service.handle(incoming),
            TelegramChat.answering(message),
            on_status=remember_in(self.service.deps.outbox, Platform.TELEGRAM),
            show_typing=needs_model(incoming),
        )

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Logs the error, then tells the user something went wrong (or what, when we know)."""
        error = context.error
        # Log the error before we do anything else, so we can see it even if something breaks.
        if isinstance(error, ReasonedError):
            logger.warning("update refused: %s", error)
        else:
            logger.error("error while handling a Telegram update", exc_info=error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        user = update.effective_user
        locale = normalise_locale(user.language_code if user else None)
        locale = locale or self.settings.default_locale
        if isinstance(error, ReasonedError):
            text = explain(error, locale)
        else:
            text = t("error_generic", locale)
        await context.bot.send_message(update.effective_chat.id, text)


def needs_model(incoming: Incoming) -> bool:
    """Plain messages, voice and /ask go to the model, which is worth a typing indicator."""
    return incoming.command is None or incoming.command.name == ASK_COMMAND
