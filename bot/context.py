"""What the services need besides a session: long-lived objects shared by every update."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from handlers.engine.text import Msg
from handlers.render import Catalogs, Translator
from storage.sealing import Keyring


@dataclass(frozen=True)
class Actor:
    """A staff member acting in the moderator chat, as Telegram identified them."""

    user_id: int
    name: str


@dataclass(frozen=True)
class Outcome:
    """What to tell the person who acted."""

    ok: bool
    message: Msg


@dataclass(frozen=True)
class ServiceContext:
    keyring: Keyring
    catalogs: Catalogs
    tz: dt.tzinfo
    moderator_language: str
    clock: Callable[[], dt.datetime]
    admin_ids: frozenset[int] = frozenset()

    def now(self) -> dt.datetime:
        return self.clock()

    def translator(self, language: str) -> Translator:
        return Translator(self.catalogs, language, self.tz)

    @property
    def moderators_t(self) -> Translator:
        return self.translator(self.moderator_language)
