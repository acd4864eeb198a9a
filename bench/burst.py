"""Burst benchmark: N reports within S seconds into the moderator chat, Telegram's limits on.

Runs the real bot and worker against the loopback emulator twice in one run: with burst digests
(the bot as shipped) and, as the baseline, one full card per report (digests off). Prints how
many reports each made visible within 60 s, the waits, the messages used and 429s, and the ratios.

    uv run python bench/burst.py --reports 1000 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

from nacl.public import PrivateKey
from nacl.utils import random as random_bytes

from bot.demo.emulator.telegram import TelegramEmulator
from storage.db import migrate
from storage.sealing import Keyring
from tests.burst import submit_burst
from tests.e2e import moderator_group, start_bot

CODE = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")


async def scenario(
    reports: int, seconds: float, *, digests: bool, horizon: float
) -> dict[str, float]:
    keyring = Keyring(PrivateKey.generate().public_key, random_bytes(32), random_bytes(32))
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await migrate(url)
        async with TelegramEmulator() as emu:
            group = moderator_group(emu)
            users = [emu.user(910_000_000 + i, started=True).id for i in range(reports)]
            bot = await start_bot(emu, url, keyring, Path(folder))
            bot.app.worker.digests = digests
            try:
                submitted = await submit_burst(bot.app, users, seconds=seconds)
                first_seen: dict[str, float] = {}
                deadline = max(submitted.values()) + horizon
                while time.monotonic() < deadline:
                    for message in emu.chat_messages(group):
                        for code in CODE.findall(message.content):
                            first_seen.setdefault(code, message.created_at)
                    if set(submitted) <= set(first_seen):
                        break
                    await asyncio.sleep(0.2)
                waits = sorted(first_seen[c] - submitted[c] for c in submitted if c in first_seen)
                within = sum(
                    1 for c in submitted if c in first_seen and first_seen[c] - submitted[c] <= 60
                )
                return {
                    "visible_60s": within,
                    "p50": statistics.median(waits) if waits else float("nan"),
                    "p99": waits[int(len(waits) * 0.99) - 1] if waits else float("nan"),
                    "max": waits[-1] if waits else float("nan"),
                    "messages": len(emu.bot_messages(group)),
                    "rate_limited": emu.stats.rate_limited,
                }
            finally:
                await bot.shutdown()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    horizon = 65.0
    ours = await scenario(args.reports, args.seconds, digests=True, horizon=horizon)
    base = await scenario(args.reports, args.seconds, digests=False, horizon=horizon)
    for name, result in (("digests (shipped)", ours), ("one card each (baseline)", base)):
        print(
            f"{name:26} visible within 60 s: {result['visible_60s']:5.0f}/{args.reports}  "
            f"wait p50 {result['p50']:5.1f} s  p99 {result['p99']:5.1f} s  "
            f"max {result['max']:5.1f} s  "
            f"group messages {result['messages']:4.0f}  429s {result['rate_limited']:.0f}"
        )
    print(
        f"ratio visible within 60 s, shipped / baseline: "
        f"{ours['visible_60s'] / max(base['visible_60s'], 1):.1f}x; "
        f"group messages per report: {ours['messages'] / args.reports:.3f} vs "
        f"{base['messages'] / args.reports:.3f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
