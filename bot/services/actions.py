"""The buttons the services offer a reporter, as channel-neutral actions (bot/services/messages.py).

Each channel turns an action into its own button data and reads it back (Telegram:
handlers/telegram/keyboards.py; Messenger: handlers/messenger/transport.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.services.messages import Action, Intent
from bot.settings import LANGUAGES
from handlers.engine.render import Translator
from handlers.engine.text import N_

# Each language in its own name, whatever the reader's language.
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def language_actions() -> list[Action]:
    return [Action(Intent.LANGUAGE, (lang,), LANGUAGE_NAMES[lang]) for lang in LANGUAGES]


def consent_actions(t: Translator) -> list[list[Action]]:
    """Agree, not now, or read the notice in another language."""
    agree = t(N_("I agree"))
    return [
        [Action(Intent.CONSENT, ("yes",), "✅ " + agree, short=agree)],
        [Action(Intent.CONSENT, ("no",), t(N_("Not now")))],
        language_actions(),
    ]


def checkin_actions(checkin_id: int, t: Translator) -> list[Action]:
    """The check-in's answers (CheckinService.answer reads them back)."""
    return [
        Action(Intent.CHECKIN, (str(checkin_id), "safe"), "✅ " + t(N_("I am safe"))),
        Action(Intent.CHECKIN, (str(checkin_id), "help"), "🆘 " + t(N_("I need help"))),
    ]


def wipe_actions(t: Translator, *, codes: bool, cancel: bool) -> list[list[Action]]:
    """Clearing the chat, as actions: keep the report codes (when there are any) or not."""
    rows: list[list[Action]] = []
    if codes:
        rows.append(
            [Action(Intent.WIPE, ("keep",), "🧹 " + t(N_("Clear the chat, keep the code")))]
        )
    rows.append([Action(Intent.WIPE, ("all",), "🧹 " + t(N_("Clear the chat completely")))])
    if cancel:
        rows.append([Action(Intent.WIPE, ("no",), t(N_("Cancel")))])
    return rows


def forget_actions(t: Translator) -> list[Action]:
    return [
        Action(Intent.FORGET, ("yes",), t(N_("Erase the link"))),
        Action(Intent.FORGET, ("no",), t(N_("Cancel"))),
    ]


def followup_actions(choices: Iterable[tuple[int, str]], t: Translator) -> list[list[Action]]:
    """One action per report (id, code), then "new report" on a row of its own."""
    rows = [
        [
            Action(
                Intent.FOLLOW,
                (str(report_id),),
                "➕ " + t(N_("Add to {code}"), code=code),
                short=t(N_("Add to {code}"), code=code),
            )
        ]
        for report_id, code in choices
    ]
    new = t(N_("New report"))
    rows.append([Action(Intent.FOLLOW, ("0",), "📝 " + new, short=new)])
    return rows
