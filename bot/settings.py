"""Settings from the environment or a `.env` file (DESIGN.md section 4).

Loaded once by the composition root and passed down; nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LANGUAGES = ("kk", "ru", "en")

# What to tell a person whose setting is missing or wrong, per variable: one line, no traceback.
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
}


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
    webhook_base_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    facebook_page_token: SecretStr | None = None
    facebook_app_secret: SecretStr | None = None
    facebook_verify_token: SecretStr | None = None
    facebook_graph_url: str = "https://graph.facebook.com/v21.0"
    timezone: str = "Asia/Almaty"
    retention_days: int = Field(default=90, ge=1)
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
