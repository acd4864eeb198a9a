"""When the database cannot be reached: tell the person, and keep their update for later.

Nothing of an update is acknowledged until its transaction commits (bot/web.py answers Telegram
only then), so an update that meets a database outage is not lost: in webhook mode Telegram
delivers it again (we answer 503 with Retry-After), in polling mode the middleware holds it and
retries. Meanwhile the reporter is told, in their language, that the bot is temporarily
unavailable and that nothing they sent is lost.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from aiogram import Bot, html
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Chat, Update, User
from sqlalchemy import exc as sa_exc

from bot.i18n import language_for
from bot.services.context import ServiceContext
from handlers.engine.text import N_

log = logging.getLogger(__name__)

UNAVAILABLE = N_(
    "Sorry, the bot is temporarily unavailable. Your answers are kept, and your last message "
    "will be processed as soon as the bot is back: there is no need to send it again."
)
# One notice per chat in this long; Telegram redelivers the update every few seconds meanwhile.
NOTICE_INTERVAL = 60.0
NOTICE_MEMORY = 10_000  # chats remembered; the oldest are forgotten first
NOTICE_TIMEOUT = 5  # seconds; a notice must not keep the update waiting long


class StorageUnavailable(Exception):
    """The database could not be reached while handling an update; none of it was stored."""


def is_database_outage(error: BaseException) -> bool:
    """Whether an error means "the database is unreachable" rather than a bug.

    SQLAlchemy reports a lost or refused connection as OperationalError or InterfaceError (or
    any DBAPIError with connection_invalidated), but a server that is shutting down refuses a
    new connection with an error it wraps as a plain DBAPIError: its SQLSTATE tells. asyncpg's
    own connect errors and timeouts are OSError subclasses and may reach us unwrapped. The
    causes are followed, since SQLAlchemy wraps; a Bot API error ends the search, because
    aiogram wraps aiohttp's connection errors (OSErrors too) and those are Telegram's outages,
    not ours.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TelegramAPIError):
            return False
        if isinstance(current, StorageUnavailable | sa_exc.OperationalError):
            return True
        if isinstance(current, sa_exc.InterfaceError):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa_exc.TimeoutError):  # no pooled connection came free in time
            return True
        if isinstance(current, OSError):
            return True
        # PostgreSQL's own word for it (asyncpg errors carry the SQLSTATE): class 08 is a
        # connection exception, 57P01-57P03 a server shutting down, crashed or starting up.
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03")
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def log_pass_failure(logger: logging.Logger, what: str, error: BaseException) -> None:
    """A background pass (outbox, digest, check-ins, retention) failed; the next one retries.

    A database outage is expected and shown by /healthz and the metrics: one warning line, no
    traceback. Anything else is a bug: the whole traceback at ERROR.
    """
    if is_database_outage(error):
        logger.warning("%s: database unreachable (%s)", what, type(error).__name__)
    else:
        logger.error("%s", what, exc_info=error)


class OutageNotifier:
    """Sends the "temporarily unavailable" notice, at most once a minute per chat."""

    def __init__(
        self,
        context: ServiceContext,
        *,
        interval: float = NOTICE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.context = context
        self.interval = interval
        self.clock = clock
        self._last: OrderedDict[int, float] = OrderedDict()

    def text(self, user: User | None) -> str:
        language = language_for(user.language_code if user is not None else None)
        return self.context.translator(language)(UNAVAILABLE)

    async def notify(self, bot: Bot, update: Update, chat: Chat | None, user: User | None) -> None:
        """Tell a reporter in a private chat; never raises (Telegram may be failing too)."""
        if chat is None or chat.type != "private" or user is None or user.is_bot:
            return  # moderators' presses and replies simply wait for the redelivery
        now = self.clock()
        last = self._last.get(chat.id)
        if last is not None and now - last < self.interval:
            return
        self._last[chat.id] = now
        self._last.move_to_end(chat.id)
        while len(self._last) > NOTICE_MEMORY:
            self._last.popitem(last=False)
        text = html.quote(self.text(user))
        with contextlib.suppress(TelegramAPIError):
            if update.callback_query is not None:
                # Stops the spinner on the pressed button; the redelivered press answers again
                # later, which Telegram refuses and handlers/telegram/session.py shrugs off.
                await bot.answer_callback_query(
                    update.callback_query.id, request_timeout=NOTICE_TIMEOUT
                )
            await bot.send_message(chat.id, text, request_timeout=NOTICE_TIMEOUT)
        log.info("told a reporter the bot is temporarily unavailable")
