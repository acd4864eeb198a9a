"""Answer latency when many people act at the same moment, with and without a Bot API round trip.

During a wave of arrests many relatives use the bot at once. This measures how long each of
them waits for the bot's answer when all act together, with no round trip to Telegram and with
one (a server in Europe sees 50 to 300 ms). The bot runs as its own process in webhook mode
(`python -m bot run --webhook`, as in production, started as `flows.py` starts it) against the
loopback emulator in this process, Telegram's rate limits off; `emu.faults.set_latency` holds
every Bot API call and file download for the round trip.

For each backend, round and round trip: N new people are brought, with no round trip, to the
first question of a detention report (who the person is to them: buttons); then the round trip
is switched on and
1. "press": all N press their answer at the same moment;
2. "text": once each has the next question (the person's name), all N type it at the same moment.
Rounds alternate the round trips (0, 200 ms, 0, 200 ms, ...) after one uncounted warm-up round,
so that drift on a shared machine falls on both alike.

Answer latency: from the moment the emulator hands a person's update to the bot (its webhook
POST starts) until the emulator has received the bot's answer: the next question (a new message
with buttons) and, for a press, the callback answer too. Only the emulator is observed, never the
bot's internals, so the figures mean the same whichever way the bot sends its replies.

    uv run python bench/latency.py                  # SQLite and PostgreSQL, 30 people (~4 min)
    uv run python bench/latency.py --backend sqlite --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.flows import Databases, TimedFlow, new_flow, new_keyring, start_reportbot
from bot.demo.emulator.models import EmuMessage
from bot.demo.emulator.telegram import TelegramEmulator
from handlers.telegram.keyboards import FlowAction, FlowCB
from storage.sealing import Keyring
from tests.webhook import unexpected_errors

BACKEND_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
#: the issue's target: the slowest answer grows by at most this many round trips.
TARGET_ROUND_TRIPS = 5
#: a bound on every wait, so that a stuck bot ends the run instead of hanging it.
WAIT_SECONDS = 180.0


@dataclass
class Samples:
    """Answer latencies in seconds, for one backend and round trip, over all counted rounds."""

    callback: list[float] = field(default_factory=list)  # press: the callback answer
    press: list[float] = field(default_factory=list)  # press: the next question
    text: list[float] = field(default_factory=list)  # text: the next question
    answer: list[float] = field(default_factory=list)  # either: everything the bot answers
    calls: Counter[str] = field(default_factory=Counter)  # Bot API calls during the bursts
    actions: int = 0
    spread: float = 0.0  # the longest time from a burst's first update delivered to its last
    errors: int = 0  # ERROR lines and tracebacks in the bot's log (the whole run)
    refused: int = 0  # webhook deliveries the bot answered with an error (the whole run)


@dataclass
class Person:
    flow: TimedFlow
    prompt: EmuMessage
    update_id: int = 0
    query_id: str | None = None


def next_question(person: Person, step: str) -> EmuMessage | None:
    """The question of `step`, if the bot has sent it since the person's last answer."""
    flow = person.flow
    for message in flow.emu.bot_messages(flow.user):
        if message.message_id > flow.seen and message.keyboard:
            asked = flow._step(message)  # noqa: SLF001 - recognises a question by its text
            if asked is not None and asked.key == step:
                return message
    return None


async def quiet(emu: TelegramEmulator) -> None:
    """Until every update was answered by the bot's webhook, and a moment more for stragglers."""
    await emu.wait_until(lambda: not emu.pending_updates, WAIT_SECONDS)
    await asyncio.sleep(0.3)


async def burst(
    emu: TelegramEmulator, people: list[Person], kind: str, samples: Samples | None
) -> None:
    """Everyone acts at the same moment; wait for each answer; record the latencies."""
    first_call = len(emu.calls)
    # No await below suspends: all N updates are queued before the emulator delivers the first.
    for index, person in enumerate(people):
        user = person.flow.user
        if kind == "press":
            answer = FlowCB(action=FlowAction.PICK, step="relation", value="family").pack()
            person.query_id = await user.press(person.prompt, answer)
            assert emu.last_update is not None
            person.update_id = emu.last_update["update_id"]
        else:
            sent = await user.send_text(f"Person {index}")
            assert sent.update_id is not None
            person.update_id = sent.update_id
    step = "subject" if kind == "press" else "when"

    async def answered(person: Person) -> None:
        question = await emu.wait_until(lambda: next_question(person, step), WAIT_SECONDS)
        callback = None
        if person.query_id is not None:
            query_id = person.query_id
            callback = await emu.wait_until(
                lambda: emu.callback_answers.get(query_id), WAIT_SECONDS
            )
        person.flow.seen = question.message_id
        person.prompt = question
        person.query_id = None
        if samples is None:
            return
        delivered = emu.delivered_at[person.update_id]
        waited = question.created_at - delivered
        (samples.press if kind == "press" else samples.text).append(waited)
        if callback is not None:
            samples.callback.append(callback.created_at - delivered)
            waited = max(waited, callback.created_at - delivered)
        samples.answer.append(waited)

    await asyncio.gather(*(answered(person) for person in people))
    await quiet(emu)
    if samples is not None:
        delivered = [emu.delivered_at[person.update_id] for person in people]
        samples.spread = max(samples.spread, max(delivered) - min(delivered))
        samples.calls.update(f"{kind}: {call.method}" for call in emu.calls[first_call:])
        samples.actions += len(people)


async def one_round(
    emu: TelegramEmulator, first: int, count: int, round_trip: float, samples: Samples | None
) -> None:
    """`count` new people to the first question with no delay, then both bursts at `round_trip`."""
    flows = [new_flow(emu, first + index, []) for index in range(count)]
    for flow in flows:
        flow.timeout = WAIT_SECONDS
    prompts = await asyncio.gather(*(flow.fill(until_step="relation") for flow in flows))
    people = [Person(flow, prompt) for flow, prompt in zip(flows, prompts, strict=True)]
    await quiet(emu)
    emu.faults.set_latency(round_trip)
    try:
        await burst(emu, people, "press", samples)
        await burst(emu, people, "text", samples)
    finally:
        emu.faults.set_latency(0)


async def measure(
    backend: str, url: str, keyring: Keyring, workdir: Path, args: argparse.Namespace
) -> dict[float, Samples]:
    results = {round_trip: Samples() for round_trip in args.round_trips}
    async with TelegramEmulator(rate_limits=False, webhook_timeout=WAIT_SECONDS) as emu:
        bot = await start_reportbot(emu, url, keyring, workdir)
        try:
            first = 0
            await one_round(emu, first, args.people, 0.0, None)  # warm-up
            for number in range(args.rounds):
                for round_trip in args.round_trips:
                    first += args.people
                    started = time.monotonic()
                    await one_round(emu, first, args.people, round_trip, results[round_trip])
                    print(  # noqa: T201
                        f"  {BACKEND_NAMES[backend]}, round {number + 1}, "
                        f"{round_trip * 1000:.0f} ms: {time.monotonic() - started:.0f} s",
                        flush=True,
                    )
            refused = emu.stats.webhook_failures
        finally:
            await bot.stop()
    errors = len(unexpected_errors(bot.log_text()))
    for samples in results.values():
        samples.errors = errors
        samples.refused = refused
    return results


def seconds(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s / {max(values):.2f} s"


def report(results: dict[str, dict[float, Samples]], args: argparse.Namespace) -> None:
    out = print  # noqa: T202
    low, high = min(args.round_trips), max(args.round_trips)
    out(
        f"\n{args.people} people act at the same moment; {args.rounds} round(s) of a press and "
        "a typed answer each; answer = from the update's delivery to the bot until the emulator "
        "has the next question (and, for a press, the callback answer); p50 / slowest\n"
    )
    out(
        "| database | Bot API round trip | answer | press: callback answer | "
        "press: next question | text: next question |"
    )
    out("|---|---:|---:|---:|---:|---:|")
    for backend, by_round_trip in results.items():
        for round_trip, s in by_round_trip.items():
            out(
                f"| {BACKEND_NAMES[backend]} | {round_trip * 1000:.0f} ms | {seconds(s.answer)} | "
                f"{seconds(s.callback)} | {seconds(s.press)} | {seconds(s.text)} |"
            )
    target = TARGET_ROUND_TRIPS * (high - low)
    out(
        f"\n| database | slowest at {high * 1000:.0f} ms minus slowest at {low * 1000:.0f} ms | "
        f"target: at most {TARGET_ROUND_TRIPS} round trips ({target:.1f} s) |"
    )
    out("|---|---:|---|")
    for backend, by_round_trip in results.items():
        grown = max(by_round_trip[high].answer) - max(by_round_trip[low].answer)
        verdict = "met" if grown <= target else "NOT met"
        out(f"| {BACKEND_NAMES[backend]} | {grown:.2f} s | {verdict} |")
    out(f"\nBot API calls an action makes, at {high * 1000:.0f} ms (from the emulator's log):")
    for backend, by_round_trip in results.items():
        s = by_round_trip[high]
        per_action = ", ".join(
            f"{name} {count / (s.actions / 2):.1f}" for name, count in sorted(s.calls.items())
        )
        out(f"  {BACKEND_NAMES[backend]}: {per_action}")
    for backend, by_round_trip in results.items():
        spread = max(s.spread for s in by_round_trip.values())
        s = by_round_trip[high]
        out(
            f"{BACKEND_NAMES[backend]}: each burst's updates reached the bot within "
            f"{spread * 1000:.0f} ms; {s.refused} deliveries refused by the bot (delivered "
            f"again); {s.errors} error lines in its log"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--people", type=int, default=30, help="people acting at once")
    parser.add_argument("--rounds", type=int, default=2, help="counted rounds per round trip")
    parser.add_argument(
        "--round-trips",
        type=float,
        nargs="+",
        default=[0.0, 0.2],
        help="Bot API round trips to compare, in seconds (the lowest is the baseline)",
    )
    parser.add_argument(
        "--keep-logs",
        type=Path,
        help="copy the bot's log here (with LOG_LEVEL=DEBUG: why a reply waited)",
    )
    args = parser.parse_args()
    keyring = new_keyring()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results: dict[str, dict[float, Samples]] = {}
    with tempfile.TemporaryDirectory(prefix="reportbot-bench-") as folder:
        base = Path(folder)
        databases = Databases(base)
        try:
            for backend in backends:
                workdir = base / backend
                workdir.mkdir()
                url = databases.url(backend, workdir)
                print(f"measuring reportbot on {backend}…", flush=True)  # noqa: T201
                results[backend] = await measure(backend, url, keyring, workdir, args)
                if args.keep_logs is not None:
                    args.keep_logs.mkdir(parents=True, exist_ok=True)
                    for log in workdir.glob("*.log"):
                        shutil.copy(log, args.keep_logs / f"{backend}-{log.name}")
        finally:
            databases.close()
    report(results, args)


if __name__ == "__main__":
    asyncio.run(main())
