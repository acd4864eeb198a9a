"""Settings from the environment or a `.env` file (README, "Settings").

Loaded once by the composition root and passed down; nothing reads the environment at import time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LANGUAGES = ("kk", "ru", "en")
# Where Telegram posts updates in webhook mode, under WEBHOOK_BASE_URL (README, "Settings").
TELEGRAM_WEBHOOK_PATH = "/telegram/webhook"

# What to tell a person whose setting is missing or wrong, per variable: one line, no traceback.
WEBHOOK_SECRET_MIN = 32
HINTS: dict[str, str] = {
    "BOT_TOKEN": "create a bot with @BotFather in Telegram (/newbot) and copy the token it gives",
    "MODERATOR_CHAT_ID": (
        "add the bot to the moderators' private supergroup, send a message there and read "
        "chat.id from https://api.telegram.org/bot<TOKEN>/getUpdates (it starts with -100)"
    ),
    "COORDINATOR_CHAT_ID": "a chat id like MODERATOR_CHAT_ID, or leave it unset",
    "ADMIN_IDS": "comma-separated numeric Telegram user ids, e.g. 12345,67890",
    "DATABASE_URL": "an SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    "TIMEZONE": "an IANA zone name such as Asia/Almaty",
    "ORG_PUBLIC_KEY": "the base64 public key printed by `reportbot keygen`",
    "SERVER_KEY": "the base64 server key written by `reportbot keygen`",
    "TELEGRAM_API_URL": "a URL such as https://api.telegram.org",
    "CHECKIN_DELAY": "seconds after the appointment, or an ISO 8601 duration such as PT3H",
    "CHECKIN_TIMEOUT": "seconds to wait for an answer, or an ISO 8601 duration such as PT1H",
    "LOG_FORMAT": "text (key=value lines) or json",
    "FACEBOOK_PAGE_TOKEN": (
        "the Page access token from the app's Messenger settings in developers.facebook.com "
        "(README, Facebook Messenger)"
    ),
    "FACEBOOK_APP_SECRET": (
        "the app secret from the app's Settings, Basic page in developers.facebook.com"
    ),
    "FACEBOOK_VERIFY_TOKEN": (
        "any long random string, the same one entered as the Verify Token of the webhook"
    ),
    "FACEBOOK_GRAPH_URL": "a URL such as https://graph.facebook.com/v21.0",
    "WEBHOOK_BASE_URL": (
        "the public https:// address Telegram should post to, without the path, "
        "e.g. https://bot.example.org (the bot serves /telegram/webhook under it)"
    ),
    "WEBHOOK_SECRET": (
        "32 to 256 characters from A-Z, a-z, 0-9, _ and -; for example the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
    ),
    "WEBHOOK_HOST": "the local address the HTTP server listens on, e.g. 127.0.0.1 or 0.0.0.0",
    "WEBHOOK_PORT": "a TCP port between 1 and 65535",
    "WEBHOOK_MAX_CONNECTIONS": "how many updates Telegram may post at once, 1 to 100",
    "TELEGRAM_TIMEOUT": "seconds to wait for one Bot API answer, 1 to 300",
    "OUTBOX_LEASE": "seconds a replica holds an outgoing message it is sending; at least "
    "TELEGRAM_TIMEOUT + 15",
}

# Telegram's rule for setWebhook's secret_token (core.telegram.org/bots/api#setwebhook).
_SECRET_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# How much longer than one Bot API call a claimed outbox row must stay ours: the flood-control
# middleware may wait twice up to 5 s and retry (handlers/telegram/session.py).
LEASE_MARGIN = 15.0


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line meant for a person."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str | None = None
    moderator_chat_id: int | None = None
    coordinator_chat_id: int | None = None
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    data_dir: Path = Path("./data")
    org_public_key: SecretStr | None = None
    server_key: SecretStr | None = None
    subject_key: SecretStr | None = None
    # Count every member of the moderator chat as a moderator (else only the staff table).
    moderator_chat_members_are_staff: bool = False
    # Who to call for help right now (a hotline, a lawyer on duty), shown as written in every
    # receipt and in /help, in every language (README, "Reporting": what the receipt says).
    help_contacts: str = ""
    webhook_base_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "127.0.0.1"
    # The web form under /report/ on the bot's HTTP server (README, "The web form").
    web_form: bool = False
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    # Telegram's default is 40; each connection is one update being handled at a time.
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    # One Bot API call may take this long before it counts as failed (aiogram's default is 60).
    telegram_timeout: float = Field(default=30.0, ge=1, le=300)
    # How long a replica's claim on an outbox row lasts before another may take it over; renewed
    # while the row is being sent, so it only bounds recovery after a crash.
    outbox_lease: float = Field(default=60.0, ge=5, le=3600)
    facebook_page_token: SecretStr | None = None
    facebook_app_secret: SecretStr | None = None
    facebook_verify_token: SecretStr | None = None
    facebook_graph_url: str = "https://graph.facebook.com/v21.0"
    # Let moderators answer a Messenger reporter up to 7 days after their last message, with
    # the HUMAN_AGENT tag; only for a Page that Meta granted the Human Agent feature. Automated
    # messages never use it (developers.facebook.com/docs/messenger-platform/send-messages/
    # message-tags); a refused tag is shown under the card (handlers/messenger/delivery.py).
    facebook_human_agent: bool = False
    # Answer comments on the Page's posts with a private invitation to report in Messenger.
    facebook_private_replies: bool = False
    # The m.me link `ref` values kept as a report's source (campaign names); any other ref is
    # dropped, so a link tagged for one person cannot name them (README, Threats).
    messenger_sources: Annotated[tuple[str, ...], NoDecode] = ()
    timezone: str = "Asia/Almaty"
    retention_days: int = Field(default=90, ge=1)
    # Reporter safety (README, "Reporter safety"): flood limits, intake marks, check-ins, logs.
    flood_messages_per_minute: int = Field(default=60, ge=5)
    flood_reports_per_hour: int = Field(default=3, ge=1)
    # The global cap guards against a flood of fake reports, but a wave of arrests brings
    # thousands of real ones within days (issue 3: 1,000 a minute must get through): it is high.
    intake_reports_per_hour: int = Field(default=5000, ge=1)
    new_reporter_minutes: int = Field(default=30, ge=0)
    wave_reports: int = Field(default=20, ge=2)
    wave_minutes: int = Field(default=10, ge=1)
    # After the summons appointment, and how long an answer may take (seconds, or e.g. PT3H).
    checkin_delay: dt.timedelta = dt.timedelta(hours=3)
    checkin_timeout: dt.timedelta = dt.timedelta(hours=1)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The language of alert cards and other text in the moderator chat.
    moderator_language: str = "ru"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(int(part) for part in value.replace(";", ",").split(",") if part.strip())
        if isinstance(value, int):
            return (value,)
        return value

    @field_validator("messenger_sources", mode="before")
    @classmethod
    def _split_sources(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(
                part.strip() for part in value.replace(";", ",").split(",") if part.strip()
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("telegram_api_url", "facebook_graph_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use the sqlite+aiosqlite:// or postgresql+asyncpg:// driver")
        return value

    @field_validator("checkin_delay", "checkin_timeout")
    @classmethod
    def _positive_duration(cls, value: dt.timedelta) -> dt.timedelta:
        if value <= dt.timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @field_validator("moderator_language")
    @classmethod
    def _supported_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"one of {', '.join(LANGUAGES)}")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'reportbot.db').resolve()}"

    @property
    def effective_coordinator_chat_id(self) -> int | None:
        return self.coordinator_chat_id or self.moderator_chat_id

    def require_for_run(self) -> None:
        """Check what `reportbot run` cannot start without."""
        if self.bot_token is None or not self.bot_token.get_secret_value().strip():
            raise ConfigError(_missing("BOT_TOKEN"))
        if self.moderator_chat_id is None:
            raise ConfigError(_missing("MODERATOR_CHAT_ID"))
        self.require_messenger_complete()
        if self.outbox_lease < self.telegram_timeout + LEASE_MARGIN:
            raise ConfigError(
                f"OUTBOX_LEASE is too short: {self.outbox_lease:g} s with TELEGRAM_TIMEOUT "
                f"{self.telegram_timeout:g} s ({HINTS['OUTBOX_LEASE']})."
            )

    def require_for_webhook(self) -> None:
        """Check what `reportbot run --webhook` needs besides what `run` needs."""
        if not self.webhook_base_url:
            raise ConfigError(_missing("WEBHOOK_BASE_URL"))
        if not self.webhook_base_url.startswith(("https://", "http://")):
            raise ConfigError(f"WEBHOOK_BASE_URL is malformed ({HINTS['WEBHOOK_BASE_URL']}).")
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        if not secret:
            raise ConfigError(_missing("WEBHOOK_SECRET"))
        if len(secret) > 256 or not set(secret) <= _SECRET_ALPHABET:
            raise ConfigError(f"WEBHOOK_SECRET is malformed ({HINTS['WEBHOOK_SECRET']}).")
        if len(secret) < WEBHOOK_SECRET_MIN:
            # Telegram accepts one character; anyone could then guess it and post forged
            # updates to the webhook (README, Threats).
            raise ConfigError(
                f"WEBHOOK_SECRET is too short: at least {WEBHOOK_SECRET_MIN} characters "
                f"({HINTS['WEBHOOK_SECRET']})."
            )

    @property
    def telegram_webhook_url(self) -> str:
        assert self.webhook_base_url is not None
        return self.webhook_base_url.rstrip("/") + TELEGRAM_WEBHOOK_PATH

    def _facebook_secrets(self) -> dict[str, SecretStr | None]:
        return {
            "FACEBOOK_PAGE_TOKEN": self.facebook_page_token,
            "FACEBOOK_APP_SECRET": self.facebook_app_secret,
            "FACEBOOK_VERIFY_TOKEN": self.facebook_verify_token,
        }

    @property
    def messenger_enabled(self) -> bool:
        """The Messenger channel is on when its three secrets are set (and off when none is)."""
        return all(
            value is not None and value.get_secret_value().strip()
            for value in self._facebook_secrets().values()
        )

    def require_messenger_complete(self) -> None:
        """A half-configured Messenger channel stops start-up rather than silently staying off."""
        values = self._facebook_secrets()
        unset = [
            name
            for name, value in values.items()
            if value is None or not value.get_secret_value().strip()
        ]
        if unset and len(unset) < len(values):
            present = [name for name in values if name not in unset]
            verb = "is" if len(present) == 1 else "are"
            raise ConfigError(
                f"{unset[0]} is not set, but {' and '.join(present)} {verb}: the Messenger "
                f"channel needs all three ({unset[0]}: {HINTS[unset[0]]}), or none to stay off."
            )


def _missing(variable: str) -> str:
    return f"{variable} is not set: {HINTS[variable]}."


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one readable ConfigError line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "settings"
        reason = first["msg"].removeprefix("Value error, ")
        hint = HINTS.get(variable)
        line = f"{variable} is malformed: {reason}"
        raise ConfigError(f"{line} ({hint})." if hint else f"{line}.") from None
