"""Telegram routers for moderators: card buttons, replies to cards, and staff commands."""

from __future__ import annotations

from aiogram import Bot, F, Router, html
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message, User

from bot.services.context import Actor, Outcome
from bot.services.group_chats import GroupChatIds
from bot.services.moderation import Moderation
from bot.services.replies import Replies
from handlers.engine.render import Translator
from handlers.engine.text import N_
from handlers.telegram.cards import ModCB
from handlers.telegram.quiet import NOT_ALLOWED, RefusalGate


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, name=user.full_name[:64])


def _say(
    replies: Replies,
    message: Message,
    result: Outcome | list[str],
    t: Translator,
    gate: RefusalGate,
) -> None:
    refused = isinstance(result, Outcome) and result.message.msgid in NOT_ALLOWED
    if refused and message.from_user is not None and not gate.allow(message.from_user.id):
        return  # said once already within the window (handlers/telegram/quiet.py)
    text = "\n".join(result) if isinstance(result, list) else html.quote(t.msg(result.message))
    replies.send(text, reply_to=message.message_id)


async def on_card_button(
    query: CallbackQuery,
    callback_data: ModCB,
    moderation: Moderation,
    replies: Replies,
    t: Translator,
) -> None:
    if not _in_group(query):
        # Cards live in the moderator group: a card button in a private chat is forged, and its
        # presser's id and chosen name are not written to the audit trail.
        replies.answer(t(N_("This button is not valid.")), show_alert=True)
        return
    # A card Telegram no longer shows the bot (older than about two days) comes as an
    # InaccessibleMessage: date 0, only its chat and id (core.telegram.org/bots/api#
    # inaccessiblemessage). Those are what the press is checked against; the text is not needed
    # once the card's id is recorded.
    pressed = query.message
    message = pressed if isinstance(pressed, Message) else None
    outcome = await moderation.press(
        _actor(query.from_user),
        chat_id=pressed.chat.id if pressed is not None else 0,
        message_id=pressed.message_id if pressed is not None else 0,
        message_text=(message.text or "") if message else "",
        action=callback_data.action,
        report_id=callback_data.report,
        other=callback_data.other,
    )
    replies.answer(t.msg(outcome.message), show_alert=not outcome.ok)


async def on_invalid_button(
    query: CallbackQuery, moderation: Moderation, replies: Replies, t: Translator
) -> None:
    """Buttons whose data no router understands: forged, or from an older version of the bot.

    Audited only where staff work: in a private chat the presser is a reporter (an old button
    after an upgrade), whose Telegram id and name must not go into the audit trail."""
    if _in_group(query):
        await moderation.refuse(_actor(query.from_user), None, "unknown_button")
    replies.answer(t(N_("This button is not valid.")), show_alert=True)


def _is_bot_card(message: Message, bot_id: int) -> bool:
    """Whether a message is one of this bot's cards: sent by the bot, with card buttons."""
    if message.from_user is None or message.from_user.id != bot_id:
        return False
    markup = message.reply_markup
    buttons = [button for row in markup.inline_keyboard for button in row] if markup else []
    prefix = f"{ModCB.__prefix__}:"
    return any((button.callback_data or "").startswith(prefix) for button in buttons)


def _in_group(query: CallbackQuery) -> bool:
    """Whether the pressed message is in a group (unknown when Telegram does not say)."""
    chat = query.message.chat if query.message is not None else None
    return chat is not None and chat.type in ("group", "supergroup")


async def on_reply(
    message: Message,
    moderation: Moderation,
    replies: Replies,
    t: Translator,
    bot: Bot,
    refusal_gate: RefusalGate,
) -> None:
    assert message.reply_to_message is not None and message.from_user is not None
    replied = message.reply_to_message
    outcome = await moderation.reply_in_chat(
        _actor(message.from_user),
        chat_id=message.chat.id,
        replied_message_id=replied.message_id,
        # The replied text names the card only while its message id is not recorded yet; it
        # counts only for a message this bot sent with a card's buttons, never for what a
        # group member wrote (README, Threats).
        replied_text=(replied.text or "") if _is_bot_card(replied, bot.id) else "",
        text=message.text or "",
    )
    if outcome is not None:
        _say(replies, message, outcome, t, refusal_gate)


async def on_history(
    message: Message,
    command: CommandObject,
    moderation: Moderation,
    replies: Replies,
    t: Translator,
    refusal_gate: RefusalGate,
) -> None:
    assert message.from_user is not None
    if not command.args:
        if await moderation.role(_actor(message.from_user)) is None and not refusal_gate.allow(
            message.from_user.id
        ):
            return  # not staff: told once within the window, like a refusal
        usage = t(N_("Usage: /history CODE, for example /history D-7K3F"))
        replies.send(html.quote(usage), reply_to=message.message_id)
        return
    result = await moderation.history(_actor(message.from_user), message.chat.id, command.args)
    _say(replies, message, result, t, refusal_gate)


async def on_staff(
    message: Message,
    command: CommandObject,
    moderation: Moderation,
    replies: Replies,
    t: Translator,
    refusal_gate: RefusalGate,
) -> None:
    assert message.from_user is not None
    words = (command.args or "list").split()
    user_id: int | None = None
    if len(words) > 1 and words[1].lstrip("-").isdigit():
        user_id = int(words[1])
    elif message.reply_to_message is not None and message.reply_to_message.from_user:
        user_id = message.reply_to_message.from_user.id
    role = words[2] if len(words) > 2 else None
    result = await moderation.manage_staff(
        _actor(message.from_user), message.chat.id, words[0].lower(), user_id, role
    )
    _say(replies, message, result, t, refusal_gate)


async def on_outbox(
    message: Message,
    command: CommandObject,
    moderation: Moderation,
    replies: Replies,
    t: Translator,
    refusal_gate: RefusalGate,
) -> None:
    """/outbox lists what waits and the dead letters; /outbox resend ID... (or all) sends dead
    letters again."""
    assert message.from_user is not None
    words = (command.args or "").split()
    actor = _actor(message.from_user)
    result: Outcome | list[str]
    if words and words[0].lower() == "resend":
        wanted = words[1:]
        ids = None if wanted == ["all"] else [int(w.lstrip("#")) for w in wanted if _is_id(w)]
        if ids == [] or (ids is not None and len(ids) != len(wanted)):
            usage = t(N_("Usage: /outbox resend NUMBER... or /outbox resend all"))
            replies.send(html.quote(usage), reply_to=message.message_id)
            return
        result = await moderation.resend_dead_letters(actor, message.chat.id, ids)
    else:
        result = await moderation.outbox_report(actor, message.chat.id)
    _say(replies, message, result, t, refusal_gate)


def _is_id(word: str) -> bool:
    return word.lstrip("#").isdigit()


def create_buttons_router() -> Router:
    """Card buttons wherever they are pressed: presses outside the chat are refused and audited."""
    router = Router(name=f"{__name__}.buttons")
    router.callback_query.register(on_card_button, ModCB.filter())
    return router


def create_chat_router(moderator_chat_id: int, chats: GroupChatIds | None = None) -> Router:
    router = Router(name=f"{__name__}.chat")
    if chats is None:
        router.message.filter(F.chat.id == moderator_chat_id)
    else:
        # The chat's id changes when it becomes a supergroup (bot/services/group_chats.py).
        router.message.filter(
            F.chat.id.func(lambda chat_id: chats.is_current(chat_id, moderator_chat_id))
        )
    router.message.register(on_history, Command("history"))
    router.message.register(on_staff, Command("staff"))
    router.message.register(on_outbox, Command("outbox"))
    router.message.register(on_reply, F.reply_to_message, F.text, F.from_user)
    return router


def create_fallback_router() -> Router:
    """Last of all: callback data nothing else understood."""
    router = Router(name=f"{__name__}.fallback")
    router.callback_query.register(on_invalid_button)
    return router
