"""A busy night for `reportbot demo --busy-night`: simulated people report through the real bot.

Each simulated reporter is an emulator user who presses START, agrees, picks a type and answers
the questions by tapping and typing, as the page's reporter does; some attach a photo, some write
again after the receipt (a follow-up), two report a person somebody already reported. Nothing is
written to the database directly: the moderator chat fills with the bot's real cards, and with
its digests when the cards come faster than a group may receive messages (README, "Moderators").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from aiogram.utils.i18n import I18n

from bot.demo.emulator.files import make_png
from bot.demo.emulator.handles import UserHandle
from bot.demo.emulator.models import EmuMessage
from bot.demo.emulator.telegram import TelegramEmulator
from handlers.engine.engine import CONFIRM
from handlers.engine.forms import FORMS, Step, StepKind
from handlers.telegram.keyboards import ConsentCB, FlowAction, FlowCB, FollowCB

NIGHT_SIZE = 50
# How many simulated people write at the same moment.
NIGHT_CONCURRENCY = 4
log = logging.getLogger(__name__)
CODE = re.compile(r"\b([DSFCX]-[34679ACDEFGHJKMNPQRTUVWXY]{4})\b")

# A night after a protest: detentions first, then searches, summonses, frozen accounts.
_FORMS = (("detention", 18), ("search", 9), ("summons", 9), ("account_freeze", 8), ("other", 6))
_REGIONS = (
    ("almaty", 12),
    ("astana", 8),
    ("shymkent", 5),
    ("almaty_region", 4),
    ("karaganda", 3),
    ("mangystau", 3),
    ("atyrau", 2),
    ("jambyl", 2),
    ("turkistan", 2),
    ("pavlodar", 1),
    ("abai", 1),
)
# Clearly made-up names; a number keeps two reports apart unless they are meant to be one person.
_NAMES = {
    "kk": ("Ерлан Демоұлы", "Айгүл Демоқызы", "Нұрлан Демоұлы", "Гүлнар Демоқызы", "Асқар Демоұлы"),
    "ru": ("Ерлан Демов", "Айгуль Демова", "Нурлан Демов", "Гульнара Демова", "Аскар Демов"),
    "en": ("Yerlan Demov", "Aigul Demova", "Nurlan Demov", "Gulnara Demova", "Askar Demov"),
}
# What the person writes in their own words, per form and language.
_ACCOUNTS: dict[str, dict[str, tuple[str, ...]]] = {
    "detention": {
        "kk": (
            "Түнде үйге полиция келіп, оны алып кетті. Қайда екенін айтпайды.",
            "Митингтен кейін көшеде ұстады, телефоны өшірулі.",
        ),
        "ru": (
            "Ночью пришли домой и увезли его, куда — не говорят.",
            "Задержали на улице после митинга, телефон выключен.",
        ),
        "en": (
            "They came to the house at night and took him away; nobody says where.",
            "Detained in the street after the rally; his phone is off.",
        ),
    },
    "search": {
        "kk": ("Таңертең тінту жүргізді, ноутбук пен телефондарды алды.",),
        "ru": ("Утром провели обыск, забрали ноутбук и телефоны.",),
        "en": ("A search this morning; they took the laptop and the phones.",),
    },
    "summons": {
        "kk": ("Ертеңге тергеушіге шақырту келді, себебін айтпады.",),
        "ru": ("Пришла повестка к следователю на завтра, причину не назвали.",),
        "en": ("A summons to the investigator for tomorrow, no reason given.",),
    },
    "account_freeze": {
        "kk": ("Картадағы ақша бұғатталды, банк себебін айтпайды.",),
        "ru": ("Заблокировали счёт, банк причину не объясняет.",),
        "en": ("The account was frozen; the bank will not say why.",),
    },
    "other": {
        "kk": ("Жұмыстан шығарамыз деп қорқытып жатыр.",),
        "ru": ("Угрожают увольнением за пост в соцсетях.",),
        "en": ("They threaten to fire her over a social media post.",),
    },
}
_FOLLOW_UPS = {
    "kk": (
        "Уақытша ұстау изоляторына ауыстырылды, адвокатты кіргізбейді.",
        "Хабарласты, бәрі жақсы, бірақ телефонын алып қойды.",
    ),
    "ru": ("Перевели в ИВС, адвоката не пускают.", "Позвонил, всё в порядке, но телефон забрали."),
    "en": (
        "He was moved to the IVS; they will not let the lawyer in.",
        "She called: safe, phone taken.",
    ),
}
# Dates as people type them (README, "Dates"); a reading asked back is confirmed.
_PAST_MOMENTS = {
    "kk": ("кеше түнде", "жарты сағат бұрын", "кеше кешке"),
    "ru": ("вчера в 23:40", "2 часа назад", "вчера вечером"),
    "en": ("yesterday 23:40", "2 hours ago", "yesterday evening"),
}
_PAST_DAYS = {"kk": ("кеше", "бүгін"), "ru": ("вчера", "позавчера"), "en": ("yesterday", "today")}
_APPOINTMENTS = {"kk": ("ертең сағат онда",), "ru": ("завтра к 10",), "en": ("tomorrow at 10",)}


@dataclass(frozen=True)
class NightReport:
    """One simulated person's report: what they answer, in which language."""

    number: int
    language: str
    form: str
    subject: str
    region: str
    account: str
    when: str
    photo: bool
    details: bool
    contact: str
    consent: str
    follow_up: str | None
    seed: int = 0


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([value for value, _ in pairs], weights=[w for _, w in pairs])[0]


def plan_night(count: int = NIGHT_SIZE, *, seed: int = 16) -> list[NightReport]:
    """`count` varied reports: every type, many regions, kk/ru/en in turn, a quarter with a
    photo, some detentions followed by a message, and two about a person already reported."""
    rng = random.Random(seed)  # noqa: S311 - repeatable sample data, not a secret
    plans: list[NightReport] = []
    for number in range(1, count + 1):
        language = ("ru", "kk", "en")[number % 3]
        form = (
            _weighted(rng, _FORMS) if number > 3 else ("detention", "search", "summons")[number - 1]
        )
        subject = f"{rng.choice(_NAMES[language])} {number}"
        detained = [p for p in plans if p.form == "detention"]
        if number in (count // 3, 2 * count // 3) and detained:
            # A second relative reports the same detained person: the card hints a duplicate.
            earlier = detained[-1]
            form, subject, language = "detention", earlier.subject, earlier.language
        if form in ("detention", "search"):
            when = rng.choice(_PAST_MOMENTS[language])
        elif form == "summons":
            when = rng.choice(_APPOINTMENTS[language])
        else:
            when = rng.choice(_PAST_DAYS[language])
        plans.append(
            NightReport(
                number=number,
                language=language,
                form=form,
                subject=subject,
                region=_weighted(rng, _REGIONS),
                account=rng.choice(_ACCOUNTS[form][language]),
                when=when,
                photo=number % 4 == 1,
                details=rng.random() < 0.5,
                contact=rng.choice(("chat", "chat", "chat", "none")),
                consent=rng.choice(("named", "anonymised", "anonymised", "statistics")),
                follow_up=(
                    rng.choice(_FOLLOW_UPS[language])
                    if form == "detention" and number % 5 == 1
                    else None
                ),
                seed=rng.randrange(1 << 30),
            )
        )
    return plans


def step_asked(text: str, form_key: str, gettext: Callable[[str], str]) -> Step:
    """Which step of `form_key` a prompt asks, recognised by its translated question (the
    longest match: one question may contain another)."""
    matches = [step for step in FORMS[form_key].steps if gettext(step.question) in text]
    if not matches:
        raise AssertionError(f"no question of {form_key} in {text!r}")
    return max(matches, key=lambda step: len(step.question))


def flow_buttons(message: EmuMessage) -> list[FlowCB]:
    return [
        FlowCB.unpack(data)
        for row in message.keyboard
        for button in row
        if (data := str(button.get("callback_data") or "")).startswith(FlowCB.__prefix__ + ":")
    ]


@dataclass
class NightProgress:
    """What the page shows while the night runs."""

    total: int = 0
    sent: int = 0
    failed: int = 0
    codes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class NightReporter:
    """One simulated person in the emulator, answering the bot's prompts in their chat."""

    def __init__(
        self, emu: TelegramEmulator, i18n: I18n, user: UserHandle, plan: NightReport
    ) -> None:
        self.emu = emu
        self.i18n = i18n
        self.user = user
        self.plan = plan
        self.rng = random.Random(plan.seed)  # noqa: S311 - sample data
        self.gettext = lambda text: i18n.gettext(text, locale=plan.language)
        self.handled: set[tuple[int, str]] = set()  # (message id, text) of answered prompts

    async def next_bot_message(self, predicate: Callable[[EmuMessage], object]) -> EmuMessage:
        """The newest bot message in this person's chat that matches and was not handled yet.

        The bot may ask the next question by editing the message that asked the last one, so a
        prompt is known by its id and its text, not its id alone. Many people write at once, so
        the emulator's "last action" belongs to somebody else: each person looks at their own
        chat only.
        """

        def newest() -> EmuMessage | None:
            for message in reversed(self.emu.bot_messages(self.user)):
                if (message.message_id, message.content) in self.handled:
                    return None
                if predicate(message):
                    return message
            return None

        message: EmuMessage = await self.emu.wait_until(
            newest, 60, message=f"report {self.plan.number}: the bot did not answer in 60 s"
        )
        self.handled.add((message.message_id, message.content))
        return message

    @staticmethod
    def is_prompt(message: EmuMessage) -> bool:
        # An answered question keeps its answer ("✓ Almaty") and loses its buttons; between the
        # two edits it must not be taken for a new question.
        return bool(message.keyboard) and "\n✓ " not in (message.text or "")

    async def press(self, message: EmuMessage, data: str) -> None:
        query = await self.user.press(message, data)
        await self.emu.wait_for_callback_answer(query, timeout=60)

    async def report(self) -> str:
        """START, consent, the form, Send; the report's code from the receipt."""
        plan = self.plan
        await self.user.send_command("/start")
        consent = await self.next_bot_message(self.is_prompt)
        await self.press(consent, ConsentCB(answer="yes").pack())
        menu = await self.next_bot_message(self.is_prompt)
        await self.press(menu, FlowCB(action=FlowAction.TYPE, value=plan.form).pack())
        asked: dict[str, int] = {}
        for _ in range(60):
            prompt = await self.next_bot_message(self.is_prompt)
            buttons = flow_buttons(prompt)
            if any(b.action == FlowAction.SUBMIT for b in buttons):
                await self.press(prompt, FlowCB(action=FlowAction.SUBMIT).pack())
                receipt = await self.next_bot_message(lambda m: CODE.search(m.text or ""))
                found = CODE.search(receipt.text or "")
                assert found is not None
                return found.group(1)
            if any(b.value == CONFIRM for b in buttons):  # a date read back: "yes, that's right"
                confirm = next(b for b in buttons if b.value == CONFIRM)
                await self.press(prompt, confirm.pack())
                continue
            step = step_asked(prompt.text or "", plan.form, self.gettext)
            asked[step.key] = asked.get(step.key, 0) + 1
            await self.answer(prompt, step, buttons, again=asked[step.key] > 1)
        raise AssertionError(f"report {plan.number} never reached the review screen")

    async def answer(
        self, prompt: EmuMessage, step: Step, buttons: list[FlowCB], *, again: bool
    ) -> None:
        plan = self.plan

        def pick(value: str) -> str:
            return FlowCB(action=FlowAction.PICK, step=step.key, value=value).pack()

        skip = FlowCB(action=FlowAction.SKIP, step=step.key).pack()
        chosen = {
            "relation": self.rng.choice(("family", "family", "friend", "self", "witness")),
            "region": plan.region,
            "contact": plan.contact,
            "consent": plan.consent,
            "checkin": "yes",
        }
        typed = {"subject": plan.subject, "account": plan.account}
        if step.key in chosen:
            await self.press(prompt, pick(chosen[step.key]))
        elif step.key in typed:
            await self.user.send_text(typed[step.key])
        elif step.kind in (StepKind.DATE, StepKind.DATETIME):
            await self.user.send_text(self._date(step) if again else plan.when)
        elif step.kind == StepKind.MEDIA:
            if plan.photo and step.key == "media" and not again:
                colour = (self.rng.randrange(256), self.rng.randrange(256), 90)
                await self.user.send_photo(make_png(96, 64, colour))
                received = await self.next_bot_message(self.is_prompt)
                await self.press(received, FlowCB(action=FlowAction.DONE, step=step.key).pack())
            else:
                await self.press(prompt, skip)
        elif step.required and step.vocabulary is not None:  # the other type, the bank
            await self.press(prompt, pick(self.rng.choice(step.vocabulary.options).key))
        elif not plan.details and any(b.action == FlowAction.SKIP_DETAILS for b in buttons):
            await self.press(prompt, FlowCB(action=FlowAction.SKIP_DETAILS, step=step.key).pack())
        elif step.vocabulary is not None and step.kind == StepKind.CHOICE:
            await self.press(prompt, pick(self.rng.choice(step.vocabulary.options).key))
        elif step.required:
            await self.user.send_text("—")
        else:
            await self.press(prompt, skip)

    def _date(self, step: Step) -> str:
        """A plain day-first date, understood everywhere, when the first phrase was not."""
        today = dt.date.today()  # noqa: DTZ011 - the reporter's phone's idea of today
        day = today + dt.timedelta(days=1) if step.key == "appointment" else today
        return day.strftime("%d.%m.%Y") + (" 10:00" if step.key == "appointment" else "")

    async def follow_up(self, code: str, text: str) -> None:
        """Write again after the receipt and add it to the report, as the bot offers."""
        await self.user.send_text(text)
        offer = await self.next_bot_message(
            lambda m: any(
                str(b.get("callback_data") or "").startswith(FollowCB.__prefix__ + ":")
                for row in m.keyboard
                for b in row
            )
        )
        for row in offer.keyboard:
            for button in row:
                data = str(button.get("callback_data") or "")
                if data.startswith(FollowCB.__prefix__ + ":") and code in str(button.get("text")):
                    await self.press(offer, data)
                    return
        raise AssertionError(f"no button to add to {code}")


async def run_night(
    emu: TelegramEmulator,
    i18n: I18n,
    make_user: Callable[[NightReport], UserHandle],
    plans: list[NightReport],
    progress: NightProgress,
) -> NightProgress:
    """Every planned report, a few people at a time; a failure is counted, never hidden."""
    progress.total = len(plans)
    gate = asyncio.Semaphore(NIGHT_CONCURRENCY)

    async def one(plan: NightReport) -> None:
        async with gate:
            person = NightReporter(emu, i18n, make_user(plan), plan)
            try:
                code = await person.report()
                progress.codes.append(code)
                progress.sent += 1
                emu.notify()
                if plan.follow_up:
                    await person.follow_up(code, plan.follow_up)
            except Exception as exc:  # noqa: BLE001 - one person's failure must not end the night
                progress.failed += 1
                progress.errors.append(f"report {plan.number}: {exc}")
                log.warning("busy night: report %d did not get through: %s", plan.number, exc)
                emu.notify()

    await asyncio.gather(*(one(plan) for plan in plans))
    return progress
