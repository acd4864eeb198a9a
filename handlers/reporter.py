"""Telegram router for the reporter's private chat: commands, buttons, text, files."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, InaccessibleMessage, Message

from bot.flood import SubmissionRefused
from bot.media import CannotClean, CleanImage, receive, upload_message
from handlers.conversation import Conversation
from handlers.engine import engine
from handlers.engine.text import N_
from handlers.keyboards import (
    CheckinCB,
    ConsentCB,
    FlowAction,
    FlowCB,
    ForgetCB,
    LanguageCB,
    WipeCB,
    consent_keyboard,
    forget_keyboard,
    language_keyboard,
    wipe_keyboard,
)
from handlers.render import Translator
from storage.models import Report, Reporter

if TYPE_CHECKING:  # the intake service imports the card renderer from this package
    from bot.intake import Intake
    from bot.moderation import Moderation
    from bot.privacy import Privacy

# Telegram's deleteMessages takes at most 100 ids per call.
DELETE_BATCH = 100


def _conversation(
    bot: Bot, chat_id: int, reporter: Reporter, intake: Intake, t: Translator
) -> Conversation:
    return Conversation(bot=bot, chat_id=chat_id, reporter=reporter, intake=intake, t=t)


# --- consent -----------------------------------------------------------------------------------
async def _ask_consent(bot: Bot, chat_id: int, privacy: Privacy, t: Translator) -> None:
    await bot.send_message(
        chat_id, html.quote(privacy.consent_text(t)), reply_markup=consent_keyboard(t)
    )


async def on_consent(
    query: CallbackQuery,
    callback_data: ConsentCB,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    privacy: Privacy,
    t: Translator,
) -> None:
    if query.message is None:
        await query.answer()
        return
    await _remove_keyboard(bot, query.message)
    if callback_data.answer != "yes":
        await query.answer()
        await bot.send_message(
            query.message.chat.id,
            html.quote(t(N_("All right, nothing was sent. If you change your mind, send /start."))),
        )
        return
    privacy.accept_consent(reporter)
    await query.answer(t(N_("Thank you.")))
    conversation = _conversation(bot, query.message.chat.id, reporter, intake, t)
    await conversation.handle(engine.Show())


async def on_start(
    message: Message,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    privacy: Privacy,
    t: Translator,
) -> None:
    if privacy.needs_consent(reporter):
        await _ask_consent(bot, message.chat.id, privacy, t)
        return
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
    message: Message,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    privacy: Privacy,
    t: Translator,
) -> None:
    if privacy.needs_consent(reporter):
        await _ask_consent(bot, message.chat.id, privacy, t)
        return
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
            + "\n\n"
            + t(
                N_(
                    "Your safety: /wipe clears this chat from your phone, /forget erases the "
                    "link between you and your reports."
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
    privacy: Privacy,
    t: Translator,
) -> None:
    if callback_data.lang not in ("kk", "ru", "en") or query.message is None:
        await query.answer()
        return
    reporter.language = callback_data.lang
    t = intake.translator(callback_data.lang)
    await query.answer(t(N_("Language changed.")))
    if privacy.needs_consent(reporter):
        # The language buttons under the consent text: show it again in the new language.
        await _remove_keyboard(bot, query.message)
        await _ask_consent(bot, query.message.chat.id, privacy, t)
        return
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
    privacy: Privacy,
    t: Translator,
) -> None:
    if query.message is None:
        await query.answer()
        return
    if privacy.needs_consent(reporter):  # a button from before consent was asked
        await query.answer()
        await _ask_consent(bot, query.message.chat.id, privacy, t)
        return
    conversation = _conversation(bot, query.message.chat.id, reporter, intake, t)
    try:
        reply = await conversation.handle(
            _input_from(callback_data), pressed_message_id=query.message.message_id
        )
    except SubmissionRefused as refused:
        # Too many reports: nothing was stored, the review screen stays for a later Send.
        await query.answer(t.msg(refused.message), show_alert=True)
        return
    if isinstance(reply, engine.Submitted):
        await query.answer(t(N_("Sending…")))
    else:
        await query.answer()


async def _team_question(
    message: Message, reporter: Reporter, intake: Intake, moderation: Moderation
) -> Report | None:
    """The report whose team question this message answers, if it answers one."""
    draft, _ = await intake.load_draft(reporter)
    replied = message.reply_to_message.message_id if message.reply_to_message else None
    return await moderation.answered_report(
        reporter, replied_message_id=replied, has_draft=draft is not None
    )


async def _forward_to_team(
    message: Message,
    reporter: Reporter,
    report: Report,
    moderation: Moderation,
    t: Translator,
    content: dict[str, Any],
) -> None:
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


async def on_text(
    message: Message,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    moderation: Moderation,
    privacy: Privacy,
    t: Translator,
) -> None:
    text = message.text or ""
    report = await _team_question(message, reporter, intake, moderation)
    if report is not None:
        content = {"type": "text", "html": html.quote(text)}
        await _forward_to_team(message, reporter, report, moderation, t, content)
        return
    if privacy.needs_consent(reporter):
        await _ask_consent(bot, message.chat.id, privacy, t)
        return
    conversation = _conversation(bot, message.chat.id, reporter, intake, t)
    await conversation.handle(engine.Text(text), incoming_message_id=message.message_id)


async def _receive_file(
    message: Message,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    moderation: Moderation,
    privacy: Privacy,
    t: Translator,
    *,
    kind: str,
    file_id: str,
    size: int | None,
    mime: str | None = None,
    name: str | None = None,
) -> None:
    """A photo or a document: for the team's question, or for the report being written.

    Images are rebuilt without metadata first (bot/media.py); only the clean copy goes on.
    """
    report = await _team_question(message, reporter, intake, moderation)
    if report is None and privacy.needs_consent(reporter):
        await _ask_consent(bot, message.chat.id, privacy, t)
        return
    try:
        clean: CleanImage | None = await receive(
            bot, kind, file_id, size=size, mime=mime, name=name
        )
    except CannotClean as exc:
        await message.answer(html.quote(t(_CANNOT_CLEAN[exc.reason])))
        return
    if report is not None:
        content = (
            upload_message(clean, kind, f"{report.public_code}-answer")
            if clean is not None
            else {"type": kind, "file_id": file_id}
        )
        await _forward_to_team(message, reporter, report, moderation, t, content)
        return
    if clean is not None:
        ref = await intake.store_attachment(reporter, clean)
        # The original name stays behind too: camera names carry the date and time.
        media = engine.Media(kind, ref, None, clean.mime)
    else:
        media = engine.Media(kind, file_id, name, mime)
    conversation = _conversation(bot, message.chat.id, reporter, intake, t)
    await conversation.handle(media, incoming_message_id=message.message_id)


_CANNOT_CLEAN = {
    "too_big": N_("This file is too big for the bot (more than 20 MB). Please send a smaller one."),
    "unreadable": N_(
        "This picture could not be checked for hidden data, such as the place where it was "
        "taken, so it was not accepted. Please send it as a photo or a screenshot instead."
    ),
}


async def on_photo(
    message: Message,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    moderation: Moderation,
    privacy: Privacy,
    t: Translator,
) -> None:
    assert message.photo  # guaranteed by the filter
    largest = message.photo[-1]
    await _receive_file(
        message,
        bot,
        reporter,
        intake,
        moderation,
        privacy,
        t,
        kind="photo",
        file_id=largest.file_id,
        size=largest.file_size,
    )


async def on_document(
    message: Message,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    moderation: Moderation,
    privacy: Privacy,
    t: Translator,
) -> None:
    assert message.document  # guaranteed by the filter
    document = message.document
    await _receive_file(
        message,
        bot,
        reporter,
        intake,
        moderation,
        privacy,
        t,
        kind="document",
        file_id=document.file_id,
        size=document.file_size,
        mime=document.mime_type,
        name=document.file_name,
    )


# --- leaving no trace ---------------------------------------------------------------------------
async def on_wipe(message: Message, reporter: Reporter, privacy: Privacy, t: Translator) -> None:
    codes = await privacy.recent_codes(reporter)
    await message.answer(
        html.quote(
            t(
                N_(
                    "Clear this chat? The bot deletes its messages and yours from the last 48 "
                    "hours (Telegram allows no more) and leaves one neutral line. Your reports "
                    "stay with the team.\n\nOlder messages you can delete yourself: delete this "
                    "chat in Telegram, for both sides."
                )
            )
        ),
        reply_markup=wipe_keyboard(t, codes=bool(codes), cancel=True),
    )


async def _delete_messages(bot: Bot, chat_id: int, message_ids: Sequence[int]) -> None:
    for start in range(0, len(message_ids), DELETE_BATCH):
        # Messages the person already deleted, or older than 48 hours, are skipped by
        # Telegram; a batch with none left to delete is refused. Neither is a failure here.
        with contextlib.suppress(TelegramBadRequest):
            await bot.delete_messages(chat_id, list(message_ids[start : start + DELETE_BATCH]))


async def on_wipe_button(
    query: CallbackQuery,
    callback_data: WipeCB,
    bot: Bot,
    reporter: Reporter,
    privacy: Privacy,
    t: Translator,
) -> None:
    if query.message is None:
        await query.answer()
        return
    chat_id = query.message.chat.id
    if callback_data.action not in ("keep", "all"):
        await _remove_keyboard(bot, query.message)
        await query.answer(t(N_("Nothing was deleted.")))
        return

    async def delete(message_ids: Sequence[int]) -> None:
        await _delete_messages(bot, chat_id, message_ids)

    codes = await privacy.wipe(
        reporter,
        delete,
        keep_codes=callback_data.action == "keep",
        also=[query.message.message_id],
    )
    await query.answer()
    lines = [html.quote(privacy.neutral_line(t)), *(html.code(html.quote(c)) for c in codes)]
    await bot.send_message(chat_id, "\n".join(lines))


async def on_forget(message: Message, t: Translator) -> None:
    await message.answer(
        html.quote(
            t(
                N_(
                    "Erase the link between you and your reports?\n\nThe bot forgets this "
                    "chat: the team can no longer write to you here, safety check-ins are "
                    "cancelled and an unfinished report is deleted. Your reports stay with the "
                    "team for the record, with nothing that leads to your account. This cannot "
                    "be undone.\n\nTo clear this chat from your phone as well, use /wipe first."
                )
            )
        ),
        reply_markup=forget_keyboard(t),
    )


async def on_forget_button(
    query: CallbackQuery,
    callback_data: ForgetCB,
    bot: Bot,
    reporter: Reporter,
    privacy: Privacy,
    t: Translator,
) -> None:
    if query.message is None:
        await query.answer()
        return
    await _remove_keyboard(bot, query.message)
    if callback_data.answer != "yes":
        await query.answer(t(N_("Nothing was erased.")))
        return
    await privacy.forget(reporter)
    await query.answer()
    await bot.send_message(
        query.message.chat.id,
        html.quote(
            t(
                N_(
                    "Done: the link between you and your reports is erased. If you write again, "
                    "you start as a new reporter."
                )
            )
        ),
    )


# --- safety check-ins ----------------------------------------------------------------------------
async def on_checkin_button(
    query: CallbackQuery,
    callback_data: CheckinCB,
    bot: Bot,
    reporter: Reporter,
    intake: Intake,
    t: Translator,
) -> None:
    if query.message is None:
        await query.answer()
        return
    reply = await intake.checkins.answer(reporter, callback_data.checkin, callback_data.answer)
    await _remove_keyboard(bot, query.message)
    await query.answer()
    await bot.send_message(query.message.chat.id, html.quote(t.msg(reply)))


async def _remove_keyboard(bot: Bot, message: Message | InaccessibleMessage) -> None:
    # Too old, or deleted by the person: nothing to tidy.
    with contextlib.suppress(TelegramBadRequest):
        await bot.edit_message_reply_markup(
            chat_id=message.chat.id, message_id=message.message_id, reply_markup=None
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
    router.message.register(on_wipe, Command("wipe"))
    router.message.register(on_forget, Command("forget"))
    router.callback_query.register(on_language_chosen, LanguageCB.filter())
    router.callback_query.register(on_consent, ConsentCB.filter())
    router.callback_query.register(on_wipe_button, WipeCB.filter())
    router.callback_query.register(on_forget_button, ForgetCB.filter())
    router.callback_query.register(on_checkin_button, CheckinCB.filter())
    router.callback_query.register(on_flow_button, FlowCB.filter())
    router.message.register(on_text, F.text)
    router.message.register(on_photo, F.photo)
    router.message.register(on_document, F.document)
    # Catch-all for this chat, registered last: stickers, voice, locations and the like.
    router.message.register(on_anything_else)
    return router
