"""A burst of reports straight into the intake service, shared by the burst test and bench."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from zoneinfo import ZoneInfo

from bot.app import App
from bot.services.intake import Intake
from handlers.engine import engine as e
from handlers.engine.forms import FORMS

ALMATY = ZoneInfo("Asia/Almaty")


def submission(index: int, form_key: str = "detention") -> e.Submitted:
    """A complete report as the engine hands it over, without the conversation."""
    now = dt.datetime.now(ALMATY)
    answers = {
        "relation": "family",
        "subject": f"Burst Person {index}",
        "when": (now - dt.timedelta(hours=1)).replace(second=0, microsecond=0).isoformat(),
        "region": "almaty",
        "contact": "chat",
        "consent": "statistics",
    }
    if form_key != "detention":
        answers["when"] = now.date().isoformat()
    return e.Submitted(FORMS[form_key], answers, "almaty", now.date(), answers["subject"])


async def submit_burst(
    app: App, user_ids: list[int], *, seconds: float, urgent_every: int = 3
) -> dict[str, float]:
    """Submit one report per user, spread evenly over `seconds`; returns code -> submit time."""
    submitted: dict[str, float] = {}
    start = time.monotonic()
    for index, user_id in enumerate(user_ids):
        form = "detention" if index % urgent_every == 0 else "search"
        async with app.sessionmaker() as session, session.begin():
            intake = Intake(session, app.context)
            reporter, _ = await intake.reporters.get_or_create("telegram", user_id, user_id)
            reporter.language = "ru"
            report = await intake.submit(
                reporter, submission(index, form), channel="telegram", language="ru"
            )
        submitted[report.public_code] = time.monotonic()
        app.worker.notify()
        delay = start + seconds * (index + 1) / len(user_ids) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    return submitted
