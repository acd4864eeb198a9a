"""Report flows per second, step latency and memory: the bot against a bare aiogram echo bot.

Both bots run as their own processes in webhook mode against the same loopback Telegram
emulator (in this process, Telegram's rate limits off: this measures the bot, not the flood
limits). Everything is measured in one run, so the ratios compare across machines.

1. Throughput: U simulated people fill in and send whole detention reports (consent, type, a
   dozen answers, review, send; the receipt comes through the outbox) for S seconds; the echo
   bot gets the same number of updates per "flow", each answered with one message.
2. Step latency at a fixed offered load: people pace themselves so that R updates a second
   reach the bot; the time from a person's action to the bot's answer, p50 and p99.
3. Resident memory with N open drafts: N people each start a report (consent, type, first
   question) and leave it open; the bot's RSS before and after.

`--latency` holds every Bot API call for a round trip after the warm-up (both bots);
`--load 0` leaves out the step latency at a steady load.

    uv run python bench/flows.py                          # SQLite and PostgreSQL
    uv run python bench/flows.py --backend sqlite --drafts 0 --seconds 20
    uv run python bench/flows.py --drafts 0 --load 0 --latency 0.2 --users 10 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from nacl.public import PrivateKey
from nacl.utils import random as random_bytes

from bot.demo.emulator.handles import UserHandle
from bot.demo.emulator.models import EmuMessage
from bot.demo.emulator.telegram import TelegramEmulator
from bot.i18n import create_i18n
from handlers.telegram.keyboards import ConsentCB, FlowAction, FlowCB
from storage.sealing import Keyring
from tests.e2e import is_consent, moderator_group
from tests.postgres import PostgresServer, start_postgres
from tests.webhook import (
    DETENTION,
    SECRET,
    BotProcess,
    ReportFlow,
    bot_env,
    free_port,
)

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("ru", "kk", "en")
WHEN = {"ru": "вчера 14:30", "kk": "кеше 14:30", "en": "yesterday 14:30"}
I18N = create_i18n()  # the simulated people recognise questions by their translated text


class TimedFlow(ReportFlow):
    """A report flow that records how long each answer took, and paces its actions."""

    interval: float = 0.0
    latencies: list[float]

    async def _next(self, predicate: Callable[[EmuMessage], object]) -> EmuMessage:
        asked = time.monotonic()
        message = await super()._next(predicate)
        self.latencies.append(max(message.created_at - asked, 0.0))
        if self.interval:
            await asyncio.sleep(max(0.0, asked + self.interval - time.monotonic()))
        return message


def new_flow(emu: TelegramEmulator, index: int, latencies: list[float]) -> TimedFlow:
    language = LANGUAGES[index % 3]
    user = emu.user(language_code=language)
    answers = {**DETENTION, "when": WHEN[language], "subject": f"Person {index}"}
    flow = TimedFlow(emu, I18N, user, "detention", answers, language, 120)
    flow.latencies = latencies
    return flow


async def echo_round_trips(
    emu: TelegramEmulator, user: UserHandle, count: int, latencies: list[float], interval: float
) -> None:
    seen = 0
    for step in range(count):
        asked = time.monotonic()
        await user.send_text(f"step {step}")
        reply = await emu.wait_for_bot_message(user, timeout=60, after=seen)
        seen = reply.message_id
        latencies.append(max(reply.created_at - asked, 0.0))
        if interval:
            await asyncio.sleep(max(0.0, asked + interval - time.monotonic()))


async def for_a_while(
    users: int, seconds: float, one: Callable[[int], Awaitable[None]]
) -> tuple[int, float]:
    """Each of `users` loops doing `one(n)` until `seconds` are up; returns (done, elapsed)."""
    started = time.monotonic()
    done = 0
    counter = 0

    async def loop() -> None:
        nonlocal done, counter
        while time.monotonic() - started < seconds:
            counter += 1
            await one(counter)
            done += 1

    await asyncio.gather(*(loop() for _ in range(users)))
    return done, time.monotonic() - started


class EchoProcess:
    def __init__(self, emu: TelegramEmulator, workdir: Path) -> None:
        self.emu = emu
        self.port = free_port()
        self.log = workdir / "echo.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ROOT / "bench" / "echo_bot.py"),
                "--api",
                self.emu.base_url,
                "--port",
                str(self.port),
                "--secret",
                SECRET,
                stdout=log,
                stderr=log,
            )
        expected = f"http://127.0.0.1:{self.port}/telegram/webhook"
        await self.emu.wait_until(lambda: self.emu.webhook_url == expected, 60)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


async def stagger(n: int, people: int, interval: float) -> None:
    """Spread the first actions of paced people evenly over one interval.

    Started together they would act together, in bursts of `people` updates, and measure how
    a burst queues rather than the latency at an even load.
    """
    if n <= people:
        await asyncio.sleep((n - 1) * interval / people)


async def at_a_steady_load(
    args: argparse.Namespace, person: Callable[[int, float, list[float]], Awaitable[None]]
) -> list[float]:
    """Step latencies while people pace themselves so that `args.load` updates a second reach
    the bot, for `args.seconds`; `person(n, interval, latencies)` acts once every interval.
    None measured with `--load 0`."""
    latencies: list[float] = []
    if args.load <= 0:
        return latencies
    people = max(1, int(args.load * 2))  # each acts every 2 s: `load` updates a second
    interval = people / args.load

    async def one(n: int) -> None:
        await stagger(n, people, interval)
        await person(n, interval, latencies)

    await for_a_while(people, args.seconds, one)
    return latencies


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def open_draft(emu: TelegramEmulator, index: int) -> None:
    """A person who starts a report and stops at the first question."""
    user = emu.user(language_code=LANGUAGES[index % 3])
    await user.send_command("/new")
    first = await emu.wait_for_bot_message(user, timeout=120, after=0)
    seen = first.message_id
    if is_consent(first):
        await user.press(first, ConsentCB(answer="yes").pack())
        first = await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard), 120, after=seen)
        seen = first.message_id
    await user.press(first, FlowCB(action=FlowAction.TYPE, value="detention").pack())
    await emu.wait_for_bot_message(user, lambda m: bool(m.keyboard), 120, after=seen)


def new_keyring() -> Keyring:
    return Keyring(PrivateKey.generate().public_key, random_bytes(32), random_bytes(32))


class Databases:
    """A fresh database per measurement: a SQLite file, or one on a PostgreSQL server started
    the way the test suite starts it (`tests/postgres.py`), once, until `close()`."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.server: PostgresServer | None = None
        self.created = 0

    def url(self, backend: str, workdir: Path) -> str:
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        if self.server is None:
            self.server = start_postgres(self.base / "pg")
        self.created += 1
        return self.server.create_database(f"bench{self.created}")

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


async def start_reportbot(
    emu: TelegramEmulator, url: str, keyring: Keyring, workdir: Path
) -> BotProcess:
    """`python -m bot run --webhook` on the emulator, as in production, its moderator group set."""
    moderator_group(emu)
    port = free_port()
    env = bot_env(
        emu, url, keyring, workdir / "data", port=port, base_url=f"http://127.0.0.1:{port}"
    )
    bot = BotProcess("reportbot", env, workdir)
    await bot.start()
    return bot


async def measure_reportbot(
    url: str, keyring: Keyring, workdir: Path, args: argparse.Namespace
) -> dict[str, float]:
    async with TelegramEmulator(rate_limits=False, webhook_timeout=60) as emu:
        bot = await start_reportbot(emu, url, keyring, workdir)
        try:
            assert bot.process is not None
            # Warm-up: caches, pools, the first compilations (with no round trip: quicker).
            await asyncio.gather(*(new_flow(emu, i, []).run() for i in range(args.users)))
            emu.faults.set_latency(args.latency)

            # Latency first, on a quiet bot: afterwards the outbox holds the throughput run's
            # alerts, which Telegram's pace lets into the group for minutes.
            async def paced_flow(n: int, interval: float, latencies: list[float]) -> None:
                flow = new_flow(emu, 10_000 + n, latencies)
                flow.interval = interval
                await flow.run()

            paced = await at_a_steady_load(args, paced_flow)
            deliveries = emu.stats.webhook_deliveries
            cpu = cpu_seconds(bot.process.pid)
            flows, elapsed = await for_a_while(
                args.users, args.seconds, lambda n: new_flow(emu, n, []).run()
            )
            updates = (emu.stats.webhook_deliveries - deliveries) / max(flows, 1)
            result = {
                "cpu": (cpu_seconds(bot.process.pid) - cpu) / elapsed,
                "flows_per_s": flows / elapsed,
                "updates_per_flow": updates,
                "updates_per_s": flows * updates / elapsed,
                "p50": statistics.median(paced) if paced else float("nan"),
                "p99": percentile(paced, 0.99),
                "steps_measured": len(paced),
            }
            if args.drafts:
                before = rss_mb(bot.process.pid)
                semaphore = asyncio.Semaphore(50)

                async def one(index: int) -> None:
                    async with semaphore:
                        await open_draft(emu, 100_000 + index)

                started = time.monotonic()
                await asyncio.gather(*(one(i) for i in range(args.drafts)))
                result["drafts_seconds"] = time.monotonic() - started
                result["rss_before_mb"] = before
                result["rss_after_mb"] = rss_mb(bot.process.pid)
            return result
        finally:
            await bot.stop()


async def measure_echo(
    workdir: Path, args: argparse.Namespace, per_flow: float
) -> dict[str, float]:
    steps = max(1, round(per_flow))
    async with TelegramEmulator(rate_limits=False, webhook_timeout=60) as emu:
        echo = EchoProcess(emu, workdir)
        await echo.start()
        try:
            assert echo.process is not None
            warm = [emu.user() for _ in range(args.users)]
            await asyncio.gather(*(echo_round_trips(emu, u, steps, [], 0) for u in warm))
            emu.faults.set_latency(args.latency)

            async def paced_echo(n: int, interval: float, latencies: list[float]) -> None:
                await echo_round_trips(emu, emu.user(), steps, latencies, interval)

            paced = await at_a_steady_load(args, paced_echo)
            cpu = cpu_seconds(echo.process.pid)
            flows, elapsed = await for_a_while(
                args.users,
                args.seconds,
                lambda n: echo_round_trips(emu, emu.user(), steps, [], 0),
            )
            cpu = (cpu_seconds(echo.process.pid) - cpu) / elapsed
            return {
                "cpu": cpu,
                "flows_per_s": flows / elapsed,
                "updates_per_s": flows * steps / elapsed,
                "p50": statistics.median(paced) if paced else float("nan"),
                "p99": percentile(paced, 0.99),
                "rss_idle_mb": rss_mb(echo.process.pid),
            }
        finally:
            await echo.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--users", type=int, default=20, help="people at once (throughput)")
    parser.add_argument("--seconds", type=float, default=30.0, help="per measurement")
    parser.add_argument("--load", type=float, default=10.0, help="updates a second (latency)")
    parser.add_argument("--drafts", type=int, default=10_000, help="open drafts (memory); 0 skips")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="Bot API round trip in seconds after the warm-up (emu.faults.set_latency)",
    )
    args = parser.parse_args()
    keyring = new_keyring()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="reportbot-bench-") as folder:
        base = Path(folder)
        databases = Databases(base)
        try:
            for backend in backends:
                workdir = base / backend
                workdir.mkdir()
                url = databases.url(backend, workdir)
                print(f"measuring reportbot on {backend}…", flush=True)  # noqa: T201
                results[backend] = await measure_reportbot(url, keyring, workdir, args)
            per_flow = statistics.mean(r["updates_per_flow"] for r in results.values())
            print("measuring the echo bot…", flush=True)  # noqa: T201
            echo_dir = base / "echo"
            echo_dir.mkdir()
            echo = await measure_echo(echo_dir, args, per_flow)
        finally:
            databases.close()
    report(results, echo, args)


def report(
    results: dict[str, dict[str, float]], echo: dict[str, float], args: argparse.Namespace
) -> None:
    out = print  # noqa: T202
    out(
        f"\n{args.users} people at once, {args.seconds:.0f} s per measurement, Telegram limits "
        f"off, Bot API round trip {args.latency * 1000:.0f} ms"
    )
    steady = (
        f"p50 {echo['p50'] * 1000:.0f} ms, p99 {echo['p99'] * 1000:.0f} ms at {args.load:g} "
        "updates/s, "
        if args.load > 0
        else ""
    )
    out(
        f"echo bot: {echo['flows_per_s']:.2f} flows/s ({echo['updates_per_s']:.0f} updates/s, "
        f"{echo.get('cpu', 0):.0%} of a core), {steady}RSS {echo['rss_idle_mb']:.0f} MB"
    )
    for backend, r in results.items():
        out(
            f"reportbot on {backend}: {r['flows_per_s']:.2f} flows/s "
            f"({r['updates_per_flow']:.1f} updates a flow, {r['updates_per_s']:.0f} updates/s, "
            f"{r['cpu']:.0%} of a core), "
            f"ratio to echo {r['flows_per_s'] / echo['flows_per_s']:.2f} (target >= 0.5: "
            f"{'met' if r['flows_per_s'] / echo['flows_per_s'] >= 0.5 else 'NOT met'})"
        )
        if args.load > 0:
            out(
                f"  step latency at {args.load:g} updates/s: p50 {r['p50'] * 1000:.0f} ms "
                f"({r['p50'] / echo['p50']:.1f}x echo), p99 {r['p99'] * 1000:.0f} ms "
                f"({r['p99'] / echo['p99']:.1f}x echo), {r['steps_measured']:.0f} steps"
            )
        if "rss_after_mb" in r:
            grown = r["rss_after_mb"] - r["rss_before_mb"]
            out(
                f"  RSS {r['rss_before_mb']:.0f} MB -> {r['rss_after_mb']:.0f} MB with "
                f"{args.drafts} more open drafts ({grown * 1024 * 1024 / args.drafts:.0f} bytes "
                f"a draft; opened in {r['drafts_seconds']:.0f} s); "
                f"{r['rss_after_mb'] / echo['rss_idle_mb']:.1f}x the idle echo bot"
            )


if __name__ == "__main__":
    asyncio.run(main())
