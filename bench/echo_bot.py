"""The baseline for bench/flows.py: a bare aiogram echo bot in webhook mode.

Nothing but the framework: aiogram's own webhook handler on aiohttp, one handler that sends every
text back, one that answers every button press. No database, no middleware. Whatever this reaches
on the emulator is the framework's ceiling on this machine.

    uv run python bench/echo_bot.py --api http://127.0.0.1:PORT --port 8081 --secret S
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web


async def echo(message: Message) -> None:
    await message.answer(message.text or "…")


async def pressed(query: CallbackQuery) -> None:
    await query.answer()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--token", default="123456:BENCH-ECHO")
    args = parser.parse_args()

    bot = Bot(args.token, session=AiohttpSession(api=TelegramAPIServer.from_base(args.api)))
    dispatcher = Dispatcher()
    dispatcher.message.register(echo)
    dispatcher.callback_query.register(pressed)
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=args.secret).register(
        app, path="/telegram/webhook"
    )
    setup_application(app, dispatcher, bot=bot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    await bot.set_webhook(
        f"http://127.0.0.1:{args.port}/telegram/webhook",
        secret_token=args.secret,
        allowed_updates=["message", "callback_query"],
    )
    print("echo bot ready", flush=True)  # noqa: T201
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await bot.session.close()


if __name__ == "__main__":
    asyncio.run(main())
