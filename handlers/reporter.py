"""Telegram router for the reporter's private chat: commands, buttons, text, files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram import Bot, F, Router, html
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, Message

from handlers.conversation import Conversation
from handlers.engine import engine
from handlers.engine.text import N_
from handlers.keyboards import FlowAction, FlowCB, LanguageCB, language_keyboard
from handlers.render import Translator
from storage.models import Reporter

if TYPE_CHECKING:  # the intake service imports the card renderer from this package
    from bot.intake import Intake
    from bot.moderation import Moderation


def _conversation(
    bot: Bot, chat_id: int, reporter: Reporter, intake: Intake, t: Translator
) -> Conversation:
    return Conversation(bot=bot, chat_id=chat_id, reporter=reporter, intake=intake, t=t)


async def on_start(
    message: Message, bot: Bot, reporter: Reporter, intake: Intake, t: Translator
) -> None:
    await message.answer(
        html.quote(
            t(
                N_(
                    "Hello. Through this bot you can report a detention, a search, a frozen "
                    "bank account, a summons or other persecution in Kazakhstan. Your report "
                    "goes to a team of human-rights defenders.\n\nTelegram can see this "
                    "conversation. If you are worried, use a second account and do not give "
                    "your own name. You can stop at any time with /cancel.\n\n"
                    "/language changes the language, /help explains more."
                )
            )
        )
    )
    conversation = _conversation(bot, message.chat.id, reporter, intake, t)
    await conversation.handle(engine.Show(), incoming_message_id=message.message_id)


async def on_new(
    message: Message, bot: Bot, reporter: Reporter, intake: Intake, t: Translator
) -> None:
    await intake.save_draft(reporter, None, [])
    conversation = _conversation(bot, message.chat.id, reporter, intake, t)
    await conversation.handle(engine.Show(), incoming_message_id=message.message_id)


async def on_cancel(
    message: Message, bot: Bot, reporter: Reporter, intake: Intake, t: Translator
) -> None:
    conversation = _conversation(bot, message.chat.id, reporter, intake, t)
    await conversation.handle(engine.Cancel(), incoming_message_id=message.message_id)


async def on_help(message: Message, t: Translator) -> None:
    await message.answer(
        html.quote(
            t(
                N_(
                    "How it works: choose what happened, answer the questions (you can skip "
                    "most of them), check the answers and send. You get a code for your "
                    "report.\n\nButtons: Back returns to the previous question, Skip leaves "
                    "a question unanswered, Cancel throws the report away.\n\n"
                    "Commands: /new a new report, /cancel stop the current one, "
                    "/language change the language."
                )
            )
        )
    )


async def on_language(message: Message, t: Translator) -> None:
    await message.answer(html.quote(t(N_("Choose a language:"))), reply_markup=language_keyboard())


async def on_language_chosen(
    query: CallbackQuery,
    callback_data: LanguageCB,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    t: Translator,
) -> None:
    if callback_data.lang not in ("kk", "ru", "en") or query.message is None:
        await query.answer()
        return
    reporter.language = callback_data.lang
    t = intake.translator(callback_data.lang)
    await query.answer(t(N_("Language changed.")))
    conversation = _conversation(bot, query.message.chat.id, reporter, intake, t)
    await conversation.handle(engine.Show())


_SIMPLE_ACTIONS: dict[str, engine.Input] = {
    FlowAction.BACK: engine.Back(),
    FlowAction.CANCEL: engine.Cancel(),
    FlowAction.SUBMIT: engine.Submit(),
}


def _input_from(data: FlowCB) -> engine.Input:
    simple = _SIMPLE_ACTIONS.get(data.action)
    if simple is not None:
        return simple
    step = data.step or None
    if data.action == FlowAction.TYPE:
        return engine.ChooseForm(data.value)
    if data.action == FlowAction.PICK:
        return engine.Pick(data.value, step=step)
    if data.action == FlowAction.DONE:
        return engine.Done(step=step)
    if data.action == FlowAction.SKIP:
        return engine.Skip(step=step)
    if data.action == FlowAction.EDIT:
        return engine.Edit(data.step)
    return engine.Show()


async def on_flow_button(
    query: CallbackQuery,
    callback_data: FlowCB,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    t: Translator,
) -> None:
    if query.message is None:
        await query.answer()
        return
    conversation = _conversation(bot, query.message.chat.id, reporter, intake, t)
    reply = await conversation.handle(
        _input_from(callback_data), pressed_message_id=query.message.message_id
    )
    if isinstance(reply, engine.Submitted):
        await query.answer(t(N_("Sending…")))
    else:
        await query.answer()


async def _answered_team(
    message: Message,
    reporter: Reporter,
    intake: Intake,
    moderation: Moderation,
    t: Translator,
    content: dict[str, Any],
) -> bool:
    """Pass the message to the team when it answers their question; True if it did."""
    draft, _ = await intake.load_draft(reporter)
    replied = message.reply_to_message.message_id if message.reply_to_message else None
    report = await moderation.answered_report(
        reporter, replied_message_id=replied, has_draft=draft is not None
    )
    if report is None:
        return False
    await moderation.forward_answer(reporter, report, content)
    await message.answer(
        html.quote(
            t(
                N_(
                    "Thank you, your answer was passed to the team. "
                    "To report something new, send /new."
                )
            )
        )
    )
    return True


async def on_text(
    message: Message,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    moderation: Moderation,
    t: Translator,
) -> None:
    text = message.text or ""
    content = {"type": "text", "html": html.quote(text)}
    if await _answered_team(message, reporter, intake, moderation, t, content):
        return
    conversation = _conversation(bot, message.chat.id, reporter, intake, t)
    await conversation.handle(engine.Text(text), incoming_message_id=message.message_id)


async def on_photo(
    message: Message,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    moderation: Moderation,
    t: Translator,
) -> None:
    assert message.photo  # guaranteed by the filter
    largest = message.photo[-1]
    content = {"type": "photo", "file_id": largest.file_id}
    if await _answered_team(message, reporter, intake, moderation, t, content):
        return
    conversation = _conversation(bot, message.chat.id, reporter, intake, t)
    await conversation.handle(
        engine.Media("photo", largest.file_id), incoming_message_id=message.message_id
    )


async def on_document(
    message: Message,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    moderation: Moderation,
    t: Translator,
) -> None:
    assert message.document  # guaranteed by the filter
    document = message.document
    content = {"type": "document", "file_id": document.file_id}
    if await _answered_team(message, reporter, intake, moderation, t, content):
        return
    conversation = _conversation(bot, message.chat.id, reporter, intake, t)
    await conversation.handle(
        engine.Media("document", document.file_id, document.file_name, document.mime_type),
        incoming_message_id=message.message_id,
    )


async def on_anything_else(message: Message, t: Translator) -> None:
    await message.answer(
        html.quote(
            t(
                N_(
                    "I can only read text, photos and documents. Please write your answer, "
                    "or use the buttons."
                )
            )
        )
    )


def create_router() -> Router:
    """A fresh router per dispatcher (aiogram attaches a router to one parent only)."""
    router = Router(name=__name__)
    router.message.register(on_start, CommandStart())
    router.message.register(on_new, Command("new"))
    router.message.register(on_cancel, Command("cancel"))
    router.message.register(on_help, Command("help"))
    router.message.register(on_language, Command("language"))
    router.callback_query.register(on_language_chosen, LanguageCB.filter())
    router.callback_query.register(on_flow_button, FlowCB.filter())
    router.message.register(on_text, F.text)
    router.message.register(on_photo, F.photo)
    router.message.register(on_document, F.document)
    # Catch-all for this chat, registered last: stickers, voice, locations and the like.
    router.message.register(on_anything_else)
    return router
