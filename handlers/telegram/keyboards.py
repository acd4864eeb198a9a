"""Callback data and inline keyboards for the reporter's conversation.

Callback data only says which step and which option; it is never trusted beyond that: the engine
checks the step against the draft, so a stale or forged button changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder
from pydantic import Field

from bot.services.actions import (
    checkin_actions,
    consent_actions,
    followup_actions,
    forget_actions,
    language_actions,
    wipe_actions,
)
from bot.services.messages import Action, Intent
from handlers.engine.engine import CONFIRM, AskStep, ShowReview
from handlers.engine.forms import StepKind
from handlers.engine.render import Translator
from handlers.engine.text import N_
from handlers.engine.vocab import INCIDENT_TYPES


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


def language_keyboard() -> InlineKeyboardMarkup:
    return neutral_keyboard([language_actions()])


def types_keyboard(t: Translator) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for option in INCIDENT_TYPES.options:
        builder.button(
            text=t(option.label), callback_data=FlowCB(action=FlowAction.TYPE, value=option.key)
        )
    builder.adjust(1)
    return builder.as_markup()


def _nav_row(t: Translator, step_key: str, *, can_skip: bool) -> list[InlineKeyboardButton]:
    row = [
        InlineKeyboardButton(
            text="« " + t(N_("Back")), callback_data=FlowCB(action=FlowAction.BACK).pack()
        )
    ]
    if can_skip:
        row.append(
            InlineKeyboardButton(
                text=t(N_("Skip")) + " »",
                callback_data=FlowCB(action=FlowAction.SKIP, step=step_key).pack(),
            )
        )
    row.append(
        InlineKeyboardButton(
            text="✕ " + t(N_("Cancel")), callback_data=FlowCB(action=FlowAction.CANCEL).pack()
        )
    )
    return row


def step_keyboard(ask: AskStep, t: Translator) -> InlineKeyboardMarkup:
    step = ask.step
    rows: list[list[InlineKeyboardButton]] = []
    suggested = step.vocabulary.get(ask.suggestion) if step.vocabulary and ask.suggestion else None
    if suggested is not None:  # "did you mean": the closest option to what was typed, on top
        rows.append(
            [
                InlineKeyboardButton(
                    text="👉 " + t(suggested.label),
                    callback_data=FlowCB(
                        action=FlowAction.PICK, step=step.key, value=suggested.key
                    ).pack(),
                )
            ]
        )
    if step.vocabulary is not None and step.kind in (StepKind.CHOICE, StepKind.MULTI):
        selected = set(ask.value or []) if step.kind == StepKind.MULTI else set()
        options = step.vocabulary.ordered(t, t.locale)
        labels = [t(option.label) for option in options]
        width = _columns(labels)
        buttons = [
            InlineKeyboardButton(
                text=("✅ " if option.key in selected else "") + label,
                callback_data=FlowCB(
                    action=FlowAction.PICK, step=step.key, value=option.key
                ).pack(),
            )
            for option, label in zip(options, labels, strict=True)
        ]
        rows.extend(buttons[i : i + width] for i in range(0, len(buttons), width))
    if ask.pending is not None:  # a date read back: one tap confirms it
        rows.append(
            [
                InlineKeyboardButton(
                    text="✅ " + t(N_("Yes, that's right")),
                    callback_data=FlowCB(
                        action=FlowAction.PICK, step=step.key, value=CONFIRM
                    ).pack(),
                )
            ]
        )
    if step.kind in (StepKind.MULTI, StepKind.MEDIA):
        rows.append(
            [
                InlineKeyboardButton(
                    text="✔ " + t(N_("Done")),
                    callback_data=FlowCB(action=FlowAction.DONE, step=step.key).pack(),
                )
            ]
        )
    rows.append(_nav_row(t, step.key, can_skip=ask.can_skip))
    if ask.can_skip_details:
        rows.append(
            [
                InlineKeyboardButton(
                    text="⏭ " + t(N_("Skip the details")),
                    callback_data=FlowCB(action=FlowAction.SKIP_DETAILS, step=step.key).pack(),
                )
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def review_keyboard(review: ShowReview, t: Translator) -> InlineKeyboardMarkup:
    """Send alone on the first row, where a thumb lands; changing an answer one button below it
    that opens the list (edit_list_keyboard), so fourteen edit buttons don't crowd out Send."""
    rows = [
        [
            InlineKeyboardButton(
                text="✅ " + t(N_("Send the report")),
                callback_data=FlowCB(action=FlowAction.SUBMIT).pack(),
            )
        ],
        [
            InlineKeyboardButton(
                text="✏️ " + t(N_("Change an answer")),
                callback_data=FlowCB(action=FlowAction.EDIT_MENU).pack(),
            )
        ],
        [
            InlineKeyboardButton(
                text="« " + t(N_("Back")), callback_data=FlowCB(action=FlowAction.BACK).pack()
            ),
            InlineKeyboardButton(
                text="✕ " + t(N_("Cancel")), callback_data=FlowCB(action=FlowAction.CANCEL).pack()
            ),
        ],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def edit_list_keyboard(review: ShowReview, t: Translator) -> InlineKeyboardMarkup:
    """One button per answer, then back to the review's buttons."""
    builder = InlineKeyboardBuilder()
    for item in review.items:
        builder.button(
            text="✏️ " + t(item.step.label),
            callback_data=FlowCB(action=FlowAction.EDIT, step=item.step.key),
        )
    builder.adjust(2)
    builder.row(
        InlineKeyboardButton(
            text="« " + t(N_("Back")), callback_data=FlowCB(action=FlowAction.REVIEW).pack()
        )
    )
    return builder.as_markup()


def followup_keyboard(choices: list[tuple[int, str]], t: Translator) -> InlineKeyboardMarkup:
    """One button per report (id, code), then a separate "new report" row."""
    return neutral_keyboard(followup_actions(choices, t))


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


def consent_keyboard(t: Translator) -> InlineKeyboardMarkup:
    return neutral_keyboard(consent_actions(t))


def wipe_keyboard(t: Translator, *, codes: bool, cancel: bool) -> InlineKeyboardMarkup:
    """Clearing the chat: keep the report codes (when there are any) or not."""
    return neutral_keyboard(wipe_actions(t, codes=codes, cancel=cancel))


def forget_keyboard(t: Translator) -> InlineKeyboardMarkup:
    return neutral_keyboard([forget_actions(t)])


def checkin_keyboard(checkin_id: int, t: Translator) -> InlineKeyboardMarkup:
    return neutral_keyboard([checkin_actions(checkin_id, t)])


def _callback_data(action: Action) -> str:
    """A neutral action (bot/services/messages.py) as the callback data the handlers read."""
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


def neutral_keyboard(rows: Sequence[Sequence[Action]]) -> InlineKeyboardMarkup:
    """Neutral actions as inline buttons: the outbox's Telegram transport renders with this."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=action.label, callback_data=_callback_data(action))
                for action in row
            ]
            for row in rows
            if row
        ]
    )
