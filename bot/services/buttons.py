"""The reporter's buttons, once for every channel: what each neutral intent does when pressed,
and which may be pressed before the consent notice is agreed to (README, "Architecture").

A channel's adapter only reads a pressed button back as a neutral `(Intent, args)` (Telegram's
callback data: handlers/telegram/keyboards.py, `button_action`; Messenger's payloads:
handlers/messenger/render.py, `button_action`) and calls `Buttons.press`. The args came from the
person's client and may be forged: each is checked here (a language of the three, a row id
within a 32-bit column and then against the reporter's own rows, an answer of the few a button
offers), so a forged or old button changes nothing it should not. What a platform does its own
way is data passed in: `delete` (Telegram deletes the chat's messages for /wipe; a Page can
delete none) and the session's `Wording`; the pressed message's id comes with `Pressed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.services.actions import LANGUAGE_NAMES
from bot.services.form import FormDriver, Pressed
from bot.services.messages import FORM_INTENTS, Intent
from bot.services.privacy import Deleter
from bot.services.session import ReporterSession
from handlers.engine import engine

# What may be pressed before the consent notice is agreed to: the notice's own answers and its
# language buttons, and leaving no trace (as /wipe and /forget are allowed: bot/services/
# commands.py); a check-in answer too, since it is checked against the reporter's own check-ins
# and a call for help is never held back behind a notice. The form and the follow-ups wait.
BEFORE_CONSENT = frozenset(
    {Intent.CONSENT, Intent.LANGUAGE, Intent.WIPE, Intent.FORGET, Intent.CHECKIN}
)
# A row id in a button: digits for a 32-bit database column, or none.
_ROW_ID_MAX = 2**31 - 1
NO_ROW = -1


def row_id(text: str) -> int:
    """The row id a button names; NO_ROW (which finds nothing) for anything else: button data
    can be forged, and a number beyond the column would fail in the database."""
    if not (text.isascii() and text.isdecimal()) or len(text) > len(str(_ROW_ID_MAX)):
        return NO_ROW
    number = int(text)
    return number if number <= _ROW_ID_MAX else NO_ROW


@dataclass
class Buttons:
    """One reporter's pressed button for one update; what is said goes to the session's
    `said` and its acknowledgement, as everything else the session says."""

    session: ReporterSession
    form: FormDriver
    # Deletes messages of the chat, where the platform lets the bot (Telegram); None elsewhere.
    delete: Deleter | None = None

    def may_press(self, intent: Intent) -> bool:
        """Whether a button of `intent` does anything now; if not, what must come first is
        asked (the language, where the platform did not say it; the consent notice)."""
        chooses_language = intent is Intent.LANGUAGE
        return not self.session.asks_first(
            intent, BEFORE_CONSENT, chooses_language=chooses_language
        )

    async def press(
        self, intent: Intent, args: Sequence[str], *, pressed: Pressed | None = None
    ) -> None:
        """A button pressed (`pressed`: on which message, if the platform says), or a menu's
        postback standing for one."""
        if not self.may_press(intent):
            return
        if intent in FORM_INTENTS:
            await self.form.act(intent, args, pressed=pressed)
            return
        session = self.session
        first = args[0] if args else ""
        pressed_id = pressed.message_id if pressed is not None else None
        if intent is Intent.LANGUAGE:
            await self._language(first, pressed_id)
        elif intent is Intent.CONSENT:
            session.clear_buttons(pressed_id)
            if session.consent(first == "yes"):
                await self.form.advance([engine.Show()])
        elif intent is Intent.CHECKIN:
            session.clear_buttons(pressed_id)
            await session.checkin(row_id(first), args[1] if len(args) > 1 else "")
        elif intent is Intent.FOLLOW:
            session.clear_buttons(pressed_id)
            report = row_id(first)
            if report == 0:  # "New report": the held messages are dropped with the row
                await self.form.new()
            else:
                await session.follow(report)
        elif intent is Intent.FORGET:
            session.clear_buttons(pressed_id)
            await session.forget("yes" if first == "yes" else "no")
        elif intent is Intent.WIPE:
            await session.wipe(first, self.delete, pressed_id=pressed_id)

    async def _language(self, language: str, pressed_id: int | None) -> None:
        session = self.session
        if language not in LANGUAGE_NAMES:
            session.ask_language()
            return
        # The first choice is welcomed, a change acknowledged.
        session.choose_language(language)
        if session.privacy.needs_consent(session.reporter):
            # The language buttons under the consent notice: it is shown again in the new one.
            session.clear_buttons(pressed_id)
            session.ask_consent()
            return
        await self.form.advance([engine.Show()])
