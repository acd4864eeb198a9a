"""Telegram router for the reporter's private chat: commands, buttons, text, files.

Each handler turns a Telegram update into a call on the channel-neutral services: the commands'
table (bot/services/commands.py), the buttons' table (bot/services/buttons.py), the form driver
(through handlers/telegram/conversation.py), and the reporter's session
(bot/services/session.py); what they say is stored as it is and rendered by the outbox's
Telegram transport.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiogram import F, Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.services.buttons import Buttons
from bot.services.commands import Commands, ReporterCommand, command_named
from bot.services.form import FormDriver, Pressed
from bot.services.intake import Intake
from bot.services.media import ReceivedFile, upload_message
from bot.services.messages import Intent
from bot.services.moderation import Moderation
from bot.services.privacy import Privacy
from bot.services.replies import Replies
from bot.services.session import ReporterSession
from handlers.engine import engine
from handlers.telegram.conversation import CHANNEL, Conversation
from handlers.telegram.keyboards import FlowCB, ReporterButton, flow_action
from storage.models import Report, Reporter


def _conversation(replies: Replies, reporter_session: ReporterSession) -> Conversation:
    return Conversation(replies=replies, session=reporter_session)


def _ask_consent(replies: Replies, reporter_session: ReporterSession) -> None:
    reporter_session.ask_consent()
    replies.take(reporter_session)


async def on_command(
    message: Message,
    command: CommandObject,
    replies: Replies,
    reporter_session: ReporterSession,
) -> None:
    """/start /new /cancel /language /help /wipe /forget: the one table of what each does and
    which work before consent (bot/services/commands.py)."""
    named = command_named(command.command)
    if named is None:
        return
    form = FormDriver(reporter_session, CHANNEL)
    await Commands(reporter_session, form).run(named)
    replies.take(reporter_session)


async def on_button(
    query: CallbackQuery,
    button: tuple[Intent, tuple[str, ...]],
    replies: Replies,
    reporter_session: ReporterSession,
) -> None:
    """Any of the reporter's buttons other than the form's (consent, language, check-in,
    follow-up, /wipe's and /forget's answers), read back by `ReporterButton`: the one table of
    what each does is bot/services/buttons.py. Telegram's own part is data: the chat's messages
    can be deleted (/wipe), and the pressed message has an id."""
    if query.message is None:
        return

    async def delete(message_ids: Sequence[int]) -> None:
        replies.delete(list(message_ids))

    intent, args = button
    buttons = Buttons(reporter_session, FormDriver(reporter_session, CHANNEL), delete)
    await buttons.press(intent, args, pressed=Pressed(query.message.message_id))
    replies.take(reporter_session)


async def on_flow_button(
    query: CallbackQuery,
    callback_data: FlowCB,
    replies: Replies,
    reporter_session: ReporterSession,
) -> None:
    """A button of the form: pressed only when the buttons' table allows it now (a button from
    before consent was asked asks it: bot/services/buttons.py)."""
    if query.message is None:
        return
    intent = action[0] if (action := flow_action(callback_data)) else Intent.SHOW
    if not Buttons(reporter_session, FormDriver(reporter_session, CHANNEL)).may_press(intent):
        replies.take(reporter_session)
        return
    await _conversation(replies, reporter_session).press(callback_data, query.message.message_id)


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
    replies: Replies, reporter_session: ReporterSession, report: Report, content: dict[str, Any]
) -> None:
    await reporter_session.answer_team(report, [content])
    replies.take(reporter_session)


async def _offer_to_report(
    replies: Replies, reporter_session: ReporterSession, content: dict[str, Any]
) -> bool:
    """Outside a report being written, hold the message for one of the reporter's reports and
    ask which (bot.services.followups); False when they have none open."""
    offer = await reporter_session.offer([content])
    if offer is None:
        return False
    reporter_session.take()
    replies.clear_buttons()  # an earlier offer's buttons: this one holds its messages too
    replies.say(offer, prompt=True)
    return True


async def on_text(
    message: Message,
    replies: Replies,
    reporter: Reporter,
    intake: Intake,
    moderation: Moderation,
    privacy: Privacy,
    reporter_session: ReporterSession,
) -> None:
    text = message.text or ""
    report = await _team_question(message, reporter, intake, moderation)
    content = {"type": "text", "html": html.quote(text)}
    if report is not None:
        await _forward_to_team(replies, reporter_session, report, content)
        return
    if privacy.needs_consent(reporter):
        _ask_consent(replies, reporter_session)
        return
    draft, _ = await intake.load_draft(reporter)
    if draft is None and await _offer_to_report(replies, reporter_session, content):
        return
    await _conversation(replies, reporter_session).handle(engine.Text(text))


async def on_file(
    message: Message,
    replies: Replies,
    reporter: Reporter,
    intake: Intake,
    moderation: Moderation,
    privacy: Privacy,
    reporter_session: ReporterSession,
    received_file: ReceivedFile | None = None,
) -> None:
    """A photo or a document: for the team's question, or for the report being written.

    The file was fetched, and a picture rebuilt without metadata, before this update's
    transaction began (bot/services/media.py, handlers/telegram/middlewares.py); only the clean
    copy goes on.
    """
    if received_file is None:  # the middleware fetches every private photo and document
        return
    report = await _team_question(message, reporter, intake, moderation)
    if report is None and privacy.needs_consent(reporter):
        _ask_consent(replies, reporter_session)
        return
    if received_file.refused is not None:
        reporter_session.file_refused(received_file.refused)
        replies.take(reporter_session)
        return
    if received_file.notice is not None:
        reporter_session.file_notice(received_file.notice)
        replies.take(reporter_session)
    kind, clean = received_file.kind, received_file.clean
    content = (
        upload_message(clean, kind, f"{report.public_code if report else 'report'}-answer")
        if clean is not None
        else {"type": kind, "file_id": received_file.file_id}
    )
    if report is not None:
        await _forward_to_team(replies, reporter_session, report, content)
        return
    draft, _ = await intake.load_draft(reporter)
    if draft is None and await _offer_to_report(replies, reporter_session, content):
        return
    if clean is not None:
        ref = await intake.store_attachment(reporter, clean)
        # The original name stays behind too: camera names carry the date and time.
        media = engine.Media(kind, ref, None, clean.mime)
    else:
        media = engine.Media(kind, received_file.file_id, received_file.name, received_file.mime)
    await _conversation(replies, reporter_session).handle(media)


# --- leaving no trace ---------------------------------------------------------------------------
async def on_anything_else(
    message: Message,
    replies: Replies,
    reporter_session: ReporterSession,
) -> None:
    reporter_session.cannot_read()
    replies.take(reporter_session)


def create_router() -> Router:
    """A fresh router per dispatcher (aiogram attaches a router to one parent only)."""
    router = Router(name=__name__)
    router.message.register(on_command, Command(*(command.value for command in ReporterCommand)))
    router.callback_query.register(on_button, ReporterButton())
    router.callback_query.register(on_flow_button, FlowCB.filter())
    router.message.register(on_text, F.text)
    router.message.register(on_file, F.photo | F.document)
    # Catch-all for this chat, registered last: stickers, voice, locations and the like.
    router.message.register(on_anything_else)
    return router
