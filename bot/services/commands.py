"""The reporter's commands, once for every channel: what each does, and which work before the
consent notice is agreed to (README, "Architecture").

A channel's adapter only recognises a command (Telegram's command filters and menu, a typed
"/new" or a persistent-menu postback in Messenger) and calls `Commands.run`; what is said goes
to the session's `said` like everything else the session says. What differs between channels
is data in the session's `Wording` (bot/services/session.py), not a second table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.services.form import FormDriver
from bot.services.session import ReporterSession
from handlers.engine import engine


class ReporterCommand(enum.StrEnum):
    START = "start"
    NEW = "new"
    CANCEL = "cancel"
    LANGUAGE = "language"
    HELP = "help"
    WIPE = "wipe"
    FORGET = "forget"


# What a person may do before agreeing to the consent notice: choose the language it is shown
# in, read how it works, and leave no trace. /start says the notice itself.
BEFORE_CONSENT = frozenset(
    {
        ReporterCommand.LANGUAGE,
        ReporterCommand.HELP,
        ReporterCommand.WIPE,
        ReporterCommand.FORGET,
    }
)


def command_named(text: str) -> ReporterCommand | None:
    """A typed command ("/new", "/New@some_bot", or "new" as a platform hands it over) as the
    reporter's command; None for anything else."""
    name = text.split(maxsplit=1)[0] if text.strip() else ""
    name = name.removeprefix("/").split("@", 1)[0].lower()
    try:
        return ReporterCommand(name)
    except ValueError:
        return None


@dataclass
class Commands:
    session: ReporterSession
    form: FormDriver

    async def run(self, command: ReporterCommand) -> None:
        session = self.session
        needs_consent = session.privacy.needs_consent(session.reporter)
        if command is ReporterCommand.START:
            await self._start(needs_consent=needs_consent)
            return
        # The language first, where the platform did not say it (Telegram always does; a
        # Messenger adapter asks it before a command), then the consent notice: the rule the
        # buttons follow too (bot/services/session.py, `asks_first`).
        chooses_language = command is ReporterCommand.LANGUAGE
        if session.asks_first(command, BEFORE_CONSENT, chooses_language=chooses_language):
            return
        if command is ReporterCommand.NEW:
            await self.form.new()
        elif command is ReporterCommand.CANCEL:
            await self.form.advance([engine.Cancel()])
        elif command is ReporterCommand.LANGUAGE:
            session.ask_language()
        elif command is ReporterCommand.HELP:
            session.help()
            if session.wording.asks_again_after_help and not needs_consent:
                await self.form.advance([engine.Show()])
        elif command is ReporterCommand.WIPE:
            await session.ask_wipe()
        elif command is ReporterCommand.FORGET:
            await session.forget("")

    async def _start(self, *, needs_consent: bool) -> None:
        """The welcome and the consent notice, or, once agreed, what is being asked."""
        session = self.session
        welcome_first = session.wording.welcome_before_consent
        if welcome_first:
            session.welcome()
        if needs_consent:
            session.ask_consent()
            return
        if not welcome_first:
            session.welcome()
        await self.form.advance([engine.Show()])
