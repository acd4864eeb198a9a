"""Callback data and inline keyboards for the reporter's conversation.

Callback data only says which step and which option; it is never trusted beyond that: the engine
checks the step against the draft, so a stale or forged button changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import Field

from bot.services import messages
from bot.services.messages import Action, Intent
from bot.services.messages import FormPart as Part


class FlowAction:
    TYPE = "t"
    PICK = "p"
    DONE = "d"
    SKIP = "s"
    BACK = "b"
    CANCEL = "c"
    EDIT = "e"
    SUBMIT = "x"
    SKIP_DETAILS = "sd"  # skip the optional details up to the next question that matters
    EDIT_MENU = "em"  # the review's answers as buttons, to pick one to change
    REVIEW = "v"  # back from that list to the review's own buttons


# A database row id in button data. Button data comes back from the person's client and can be
# forged: a number beyond a 32-bit column would fail in the database rather than find nothing,
# so it does not unpack at all (the press is answered as an invalid button).
RowId = Annotated[int, Field(ge=0, le=2**31 - 1)]


class FlowCB(CallbackData, prefix="f1"):
    """Version 1 of the flow buttons: action, step key, option key."""

    action: str
    step: str = ""
    value: str = ""


class FollowCB(CallbackData, prefix="a1"):
    """Version 1 of the follow-up buttons: the report a held message is added to; 0 for "a new
    report instead". Checked against the reporter's own reports (bot.services.followups)."""

    report: RowId


class LanguageCB(CallbackData, prefix="l1"):
    lang: str


def _columns(labels: list[str]) -> int:
    # Long labels ("Temporary detention (IVS)") need the whole width on a phone.
    return 2 if all(len(label) <= 18 for label in labels) else 1


# --- reporter safety ---------------------------------------------------------------------------
class ConsentCB(CallbackData, prefix="c1"):
    """Version 1 of the consent buttons: "yes" or "no"."""

    answer: str


class WipeCB(CallbackData, prefix="w1"):
    """Version 1 of the chat-clearing buttons: "keep" (the codes), "all", or "no"."""

    action: str


class ForgetCB(CallbackData, prefix="g1"):
    """Version 1 of the /forget confirmation: "yes" or "no"."""

    answer: str


class CheckinCB(CallbackData, prefix="k1"):
    """Version 1 of the check-in buttons: which check-in, "safe" or "help"."""

    checkin: RowId
    answer: str


# The form's intents as the flow buttons the handlers read back (handlers/telegram/reporter.py);
# the same callback data as before they were neutral, so buttons already in chats keep working.
_FLOW: dict[Intent, str] = {
    Intent.CHOOSE_FORM: FlowAction.TYPE,
    Intent.PICK: FlowAction.PICK,
    Intent.DONE: FlowAction.DONE,
    Intent.SKIP: FlowAction.SKIP,
    Intent.SKIP_DETAILS: FlowAction.SKIP_DETAILS,
    Intent.BACK: FlowAction.BACK,
    Intent.CANCEL: FlowAction.CANCEL,
    Intent.EDIT: FlowAction.EDIT,
    Intent.EDIT_MENU: FlowAction.EDIT_MENU,
    Intent.SHOW: FlowAction.REVIEW,
    Intent.SUBMIT: FlowAction.SUBMIT,
}
# Offered where buttons are few or a command is out of reach; a Telegram chat has the command
# menu (/new, /language) and shows every option at once, so these get no button.
_NO_BUTTON = frozenset({Intent.MORE, Intent.NEW, Intent.LANGUAGES})


_FLOW_INTENTS = {flow: intent for intent, flow in _FLOW.items()}


def flow_action(data: FlowCB) -> tuple[Intent, tuple[str, ...]] | None:
    """A flow button's callback data read back as the form's action; None for a forged one."""
    return messages.read_back(_FLOW_INTENTS.get(data.action), data.step, data.value)


# The reporter's other buttons (bot/services/buttons.py) by their callback data's class; each
# class's fields are the intent's args in order, so the same callback data as before they were
# neutral reads back ("c1:yes", "k1:42:safe"), and buttons already in chats keep working.
_BUTTONS: dict[type[CallbackData], Intent] = {
    ConsentCB: Intent.CONSENT,
    LanguageCB: Intent.LANGUAGE,
    CheckinCB: Intent.CHECKIN,
    FollowCB: Intent.FOLLOW,
    WipeCB: Intent.WIPE,
    ForgetCB: Intent.FORGET,
}


def button_action(data: str | None) -> tuple[Intent, tuple[str, ...]] | None:
    """A reporter's button's callback data (other than the form's) read back as its intent and
    args; None for any other data, or forged data that does not unpack (a row id beyond the
    column: `RowId`)."""
    for kind, intent in _BUTTONS.items():
        if not (data or "").startswith(kind.__prefix__ + kind.__separator__):
            continue
        try:
            unpacked = kind.unpack(data or "")
        except (TypeError, ValueError):  # pydantic's ValidationError is a ValueError
            return None
        return intent, tuple(str(value) for value in unpacked.model_dump().values())
    return None


class ReporterButton(Filter):
    """Matches a reporter's button of `_BUTTONS`, handing the handler its `button`: the intent
    and args it was read back as."""

    async def __call__(self, query: CallbackQuery) -> bool | dict[str, Any]:
        button = button_action(query.data)
        return {"button": button} if button is not None else False


def _flow_data(action: Action) -> str:
    flow = _FLOW[action.intent]
    if action.intent is Intent.CHOOSE_FORM:
        return FlowCB(action=flow, value=action.args[0]).pack()
    step = action.args[0] if action.args else ""
    value = action.args[1] if len(action.args) > 1 else ""
    return FlowCB(action=flow, step=step, value=value).pack()


def _callback_data(action: Action) -> str:
    """A neutral action (bot/services/messages.py) as the callback data the handlers read."""
    if action.intent in _FLOW:
        return _flow_data(action)
    if action.intent is Intent.CHECKIN:
        checkin, answer = action.args
        return CheckinCB(checkin=int(checkin), answer=answer).pack()
    if action.intent is Intent.WIPE:
        return WipeCB(action=action.args[0]).pack()
    if action.intent is Intent.CONSENT:
        return ConsentCB(answer=action.args[0]).pack()
    if action.intent is Intent.LANGUAGE:
        return LanguageCB(lang=action.args[0]).pack()
    if action.intent is Intent.FORGET:
        return ForgetCB(answer=action.args[0]).pack()
    if action.intent is Intent.FOLLOW:
        return FollowCB(report=int(action.args[0])).pack()
    raise ValueError(f"no button for {action.intent}")


def _button(action: Action, text: str | None = None) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text or action.label, callback_data=_callback_data(action))


def _row(actions: Sequence[Action]) -> list[InlineKeyboardButton]:
    return [_button(action) for action in actions if action.intent not in _NO_BUTTON]


def _keyboard(rows: Sequence[Sequence[Action]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[buttons for row in rows if (buttons := _row(row))])


def _form_rows(message: messages.Message) -> list[list[InlineKeyboardButton]]:
    """A form's message (bot/services/form.py): the option closest to what was typed on top, the
    options in one or two columns, then the other buttons as the message has them in rows."""
    part = messages.form_hints(message).get("part")
    rows: list[list[InlineKeyboardButton]] = []
    suggested = messages.suggested(message)
    if suggested is not None:
        rows.append([_button(suggested, "👉 " + suggested.label)])
    choices = messages.choices(message)
    if part == Part.TYPES:
        width = 1
    elif part == Part.EDIT_LIST:
        width = 2  # short step names ("Region", "When"); the review's text is above them
    else:
        width = _columns([choice.label for choice in choices])
    buttons = [
        _button(choice, ("✅ " if choice.selected else "") + choice.label) for choice in choices
    ]
    rows.extend(buttons[i : i + width] for i in range(0, len(buttons), width))
    for row in messages.actions(message):
        # The answers to change replace the review's buttons in place; its Back brings Send back.
        shown = [a for a in row if not (part == Part.EDIT_LIST and a.intent is Intent.SUBMIT)]
        if buttons_row := _row(shown):
            rows.append(buttons_row)
    return rows


def neutral_keyboard(
    source: messages.Message | Sequence[Sequence[Action]],
) -> InlineKeyboardMarkup | None:
    """A neutral message's actions (or rows of actions) as inline buttons: the outbox's Telegram
    transport renders with this. None when none of them is a button here."""
    if isinstance(source, dict):
        rows = (
            _form_rows(source)
            if messages.form_hints(source)
            else [b for row in messages.actions(source) if (b := _row(row))]
        )
        return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
    return _keyboard(source)
