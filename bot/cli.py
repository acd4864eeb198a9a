"""`reportbot`: the command line (README, "Two commands")."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.keys import (
    MissingServerKey,
    generate_keys,
    generate_offline_pair,
    generate_server_keys,
    load_keyring,
    private_key_on_host,
)
from bot.logging import configure_logging, register_secrets
from bot.reporting.figures_cli import add_figure_commands
from bot.settings import ConfigError, Settings, load_settings
from storage.sealing import Keyring

log = logging.getLogger("reportbot")

EXIT_CONFIG = 2


def _print(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _key_warning(private_path: Path) -> str:
    bar = "!" * 78
    return (
        f"{bar}\n"
        f"  The organisation's PRIVATE key was written to:\n"
        f"      {private_path.resolve()}\n"
        f"  It opens every sealed report. Move it OFF this host now (to the coordinators'\n"
        f"  offline machine) and delete it here. The bot needs only the public key and the\n"
        f"  server key; a seized server must not hold the private key. Until it is gone the\n"
        f"  moderator chat is reminded at each start and every day. For real use, make the\n"
        f"  pair offline instead: reportbot keygen --offline DIR (README, Keys).\n"
        f"{bar}"
    )


def _ensure_keys(settings: Settings) -> Keyring:
    """The keyring; a first start makes the keys it lacks. Loud at every start while the
    organisation's private key is in DATA_DIR (README, Keys)."""
    try:
        keyring = load_keyring(settings)
    except MissingServerKey:
        path = generate_server_keys(settings.data_dir)
        _print(f"server key made: {path.resolve()} (keep it secret, keep it on the host)")
        keyring = load_keyring(settings)
    if keyring is None:
        generate_keys(settings.data_dir)
        keyring = load_keyring(settings)
    assert keyring is not None
    private = private_key_on_host(settings.data_dir)
    if private is not None:
        _print(_key_warning(private), err=True)
    return keyring


def cmd_keygen(settings: Settings, args: argparse.Namespace) -> int:
    _private_files()
    if args.offline is not None:
        # On the coordinators' machine: the pair stays there; only the public key is printed.
        pair = generate_offline_pair(args.offline)
        _print(f"ORG_PUBLIC_KEY={pair.public_key}")
        _print(
            f"private key: {pair.private_path.resolve()} (keep it on this machine, offline; "
            "never copy it to the bot's host)\n"
            "Set the ORG_PUBLIC_KEY line above in the host's environment; the host makes its "
            "own server key on its first start.",
            err=True,
        )
        return 0
    paths = generate_keys(settings.data_dir, overwrite=args.force)
    _print(f"public key:  {paths.public_path.resolve()}")
    _print(f"server key:  {paths.server_path.resolve()} (keep it secret, keep it on the host)")
    _print(_key_warning(paths.private_path), err=True)
    return 0


def _private_files() -> None:
    """Files and folders this process creates (DATA_DIR, the SQLite database and its -wal, the
    keys) are readable by the bot's own user only, whatever the shell's umask (README, Threats)."""
    os.umask(0o077)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    _private_files()
    from storage.db import migrate  # noqa: PLC0415 - only this command needs Alembic

    asyncio.run(migrate(settings.effective_database_url))
    _print("database is up to date")
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    settings.require_for_run()
    _private_files()
    if args.webhook:
        settings.require_for_webhook()
    from bot.app import create_app, run_polling, run_webhook, stop_on_signals  # noqa: PLC0415
    from storage.db import migrate, wait_for_database  # noqa: PLC0415

    keyring = _ensure_keys(settings)

    async def _main() -> None:
        url = settings.effective_database_url
        if args.webhook:
            stop = asyncio.Event()
            stop_on_signals(stop)
            # Waiting, not exiting, while the database is down: a supervisor would only
            # restart us in a loop. A stop meanwhile ends it quietly.
            if not await wait_for_database(url, stop):
                return
            await migrate(url)
            app = create_app(settings, keyring)
            try:
                log.info("starting in webhook mode for %s", settings.telegram_webhook_url)
                await run_webhook(app, stop=stop, handle_signals=False)
            finally:
                await app.close()
            return
        await wait_for_database(url)
        await migrate(url)
        app = create_app(settings, keyring)
        try:
            log.info("starting long polling against %s", settings.telegram_api_url)
            await run_polling(app)
        finally:
            await app.close()

    asyncio.run(_main())
    return 0


def cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    """What waits in the outbox and the dead letters; --resend sends dead letters again.

    The running bot (any replica) sends resent rows on its next pass. Only ids, kinds, report
    codes, times and error kinds are printed: never content or a reporter's id.
    """
    from storage.db import create_engine, create_sessionmaker  # noqa: PLC0415
    from storage.repositories import dead_letter_lines, resend_dead_letters  # noqa: PLC0415

    wanted: list[int] | None = None
    if args.resend and args.resend != ["all"]:
        if not all(item.lstrip("#").isdigit() for item in args.resend):
            raise ConfigError("--resend takes dead letter numbers, or all")
        wanted = [int(item.lstrip("#")) for item in args.resend]

    async def _main() -> list[str]:
        engine = create_engine(settings.effective_database_url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                if args.resend:
                    queued = await resend_dead_letters(session, wanted)
                    return [f"queued again: {', '.join(f'#{i}' for i in queued) or 'none'}"]
                return await dead_letter_lines(session, limit=args.limit)
        finally:
            await engine.dispose()

    for line in asyncio.run(_main()):
        _print(line)
    return 0


def cmd_demo(_settings: Settings, args: argparse.Namespace) -> int:
    # The demo builds its own settings: the environment and .env never reach it. Migration and
    # per-update lines would drown its banner; warnings and errors still show.
    logging.getLogger().setLevel(logging.WARNING)
    from bot.demo import DemoOptions, run_demo  # noqa: PLC0415 - only the demo needs it

    options = DemoOptions(
        port=args.port,
        seed=args.seed,
        data_dir=args.data_dir,
        moderator_language=args.moderator_language,
        busy_night=args.busy_night,
    )
    return run_demo(options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reportbot", description="Incident reporting bot: intake, sealing, moderation."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the bot (applies pending migrations first)")
    run.add_argument("--webhook", action="store_true", help="webhook mode instead of polling")
    run.set_defaults(func=cmd_run)
    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=cmd_migrate)
    keygen = sub.add_parser("keygen", help="create the organisation key pair and a server key")
    keygen.add_argument("--force", action="store_true", help="replace existing keys (rotation)")
    keygen.add_argument(
        "--offline",
        type=Path,
        metavar="DIR",
        default=None,
        help="make the organisation key pair in DIR (the coordinators' machine) and print only "
        "the public key, as the ORG_PUBLIC_KEY line for the host",
    )
    keygen.set_defaults(func=cmd_keygen)
    outbox = sub.add_parser(
        "outbox", help="messages waiting and dead letters; --resend sends dead letters again"
    )
    outbox.add_argument(
        "--resend", nargs="+", metavar="ID", help="dead letter numbers to send again, or all"
    )
    outbox.add_argument("--limit", type=int, default=50, help="dead letters listed (50)")
    outbox.set_defaults(func=cmd_outbox)
    demo = sub.add_parser(
        "demo", help="try the bot offline: a Telegram emulator, the bot and a local page"
    )
    demo.add_argument("--port", type=int, default=8000, help="page port on 127.0.0.1 (8000)")
    demo.add_argument("--seed", action="store_true", help="add fake sample reports for stats")
    demo.add_argument(
        "--data-dir", type=Path, default=None, help="keep demo data here (default: temporary)"
    )
    demo.add_argument(
        "--moderator-language", choices=("kk", "ru", "en"), default="ru", help="alert cards (ru)"
    )
    demo.add_argument(
        "--busy-night",
        type=int,
        nargs="?",
        const=50,
        default=0,
        metavar="N",
        help="N simulated people report through the bot (50): real cards and digests",
    )
    demo.set_defaults(func=cmd_demo)
    add_figure_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Structured lines through the redacting filter (bot/logging.py), from the very first one.
    configure_logging()
    try:
        settings = load_settings()
        configure_logging(level=settings.log_level, fmt=settings.log_format)
        register_secrets(
            secret.get_secret_value() if secret is not None else None
            for secret in (
                settings.bot_token,
                settings.webhook_secret,
                settings.server_key,
                settings.subject_key,
                settings.facebook_page_token,
                settings.facebook_app_secret,
                settings.facebook_verify_token,
            )
        )
        return int(args.func(settings, args))
    except ConfigError as exc:
        _print(f"reportbot: {exc}", err=True)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
