"""The report forms as declarative specs (README, "Reporting").

A form is an ordered list of steps. Each step names its kind, its question (a msgid), whether it
may be skipped, its vocabulary, an optional condition on earlier answers, and, for the few answers
that are counted, which clear facet of the report it fills.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers.engine import vocab
from handlers.engine.dates import Prefer
from handlers.engine.text import N_


class StepKind(enum.StrEnum):
    CHOICE = "choice"
    MULTI = "multi"
    TEXT = "text"
    DATE = "date"
    DATETIME = "datetime"
    MEDIA = "media"


Condition = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Step:
    key: str
    kind: StepKind
    question: str  # msgid of the question
    label: str  # msgid of the short label on the review screen and the alert card
    required: bool = False
    vocabulary: vocab.Vocabulary | None = None
    when: Condition | None = None
    max_length: int = 500
    prefer: Prefer = Prefer.PAST
    # Dates: how far in the future an answer may be (0 = not after today).
    future_days: int = 0
    # Dates: an approximate period ("на прошлой неделе") is not enough, a day must be named.
    exact_day: bool = False
    max_items: int = 10
    facet: str | None = None  # "region" or "incident_date": copied into a clear column
    subject: bool = False  # the person concerned: feeds the duplicate hint index
    # A required answer that may be skipped after all when earlier answers say so (the name of
    # the person concerned, when that is the reporter: the bot's own advice is to withhold it).
    optional_when: Condition | None = None

    def applies(self, answers: Mapping[str, Any]) -> bool:
        return self.when is None or self.when(answers)

    def is_required(self, answers: Mapping[str, Any]) -> bool:
        return self.required and not (self.optional_when and self.optional_when(answers))


@dataclass(frozen=True)
class Form:
    key: str
    code_prefix: str  # first letter of the public code
    urgent: bool
    steps: tuple[Step, ...]

    def step(self, key: str) -> Step | None:
        for step in self.steps:
            if step.key == key:
                return step
        return None


def _answer_is(key: str, value: str) -> Condition:
    return lambda answers: answers.get(key) == value


def _answer_in(key: str, values: frozenset[str]) -> Condition:
    return lambda answers: answers.get(key) in values


_ABOUT_ME = _answer_is("relation", "self")

RELATION = Step(
    "relation",
    StepKind.CHOICE,
    N_("Who are you to the person this happened to?"),
    N_("Reporter"),
    vocabulary=vocab.RELATIONS,
)


REGION = Step(
    "region",
    StepKind.CHOICE,
    N_("In which region did it happen?"),
    N_("Region"),
    vocabulary=vocab.REGIONS,
    facet="region",
)


def _agency(question: str) -> Step:
    return Step(
        "agency",
        StepKind.CHOICE,
        question,
        N_("Agency"),
        vocabulary=vocab.AGENCIES,
    )


ARTICLE = Step(
    "article",
    StepKind.CHOICE,
    N_("Which article of the code, if you know it?"),
    N_("Article"),
    vocabulary=vocab.ARTICLES,
)

# The person's own words come right after who and when (issue 16): the details after them are
# what the team can do without.
ACCOUNT = Step(
    "account",
    StepKind.TEXT,
    N_("Describe what happened in your own words: what, where, who was there."),
    N_("Account"),
    max_length=3500,
)

TAIL = (
    Step(
        "media",
        StepKind.MEDIA,
        N_(
            "Send photos or documents if you have them (a summons, a protocol, a bank "
            "notice), one or several, then press Done."
        ),
        N_("Attachments"),
    ),
    Step(
        "contact",
        StepKind.CHOICE,
        N_("How may the team contact you with questions?"),
        N_("Contact"),
        required=True,
        vocabulary=vocab.CONTACT,
    ),
    Step(
        "contact_other",
        StepKind.TEXT,
        N_("Write how to reach you safely (for example a Signal number or an e-mail)."),
        N_("Contact details"),
        required=True,
        when=_answer_is("contact", "other"),
        max_length=200,
    ),
    Step(
        "consent",
        StepKind.CHOICE,
        N_("How may this report be used?"),
        N_("Use"),
        required=True,
        vocabulary=vocab.CONSENT,
    ),
)

DETENTION = Form(
    "detention",
    "D",
    urgent=True,
    steps=(
        RELATION,
        Step(
            "subject",
            StepKind.TEXT,
            N_("Who was detained? A name, or how the team can identify the person."),
            N_("Detained"),
            required=True,
            optional_when=_ABOUT_ME,
            max_length=200,
            subject=True,
        ),
        Step(
            "when",
            StepKind.DATETIME,
            N_("When was the person detained? For example: today 9:30, yesterday evening, 20.11."),
            N_("When"),
            required=True,
            facet="incident_date",
        ),
        ACCOUNT,
        REGION,
        Step(
            "place",
            StepKind.TEXT,
            N_("Where exactly (city, street, building)?"),
            N_("Place"),
            max_length=300,
        ),
        _agency(N_("Which agency detained the person?")),
        Step(
            "held_where",
            StepKind.CHOICE,
            N_("Where is the person held now?"),
            N_("Held at"),
            vocabulary=vocab.DETENTION_PLACES,
        ),
        ARTICLE,
        Step(
            "lawyer",
            StepKind.CHOICE,
            N_("Has a lawyer been allowed to see the person?"),
            N_("Lawyer allowed"),
            vocabulary=vocab.YES_NO_UNKNOWN,
        ),
        Step(
            "injuries",
            StepKind.CHOICE,
            N_("Is the person injured?"),
            N_("Injuries"),
            vocabulary=vocab.YES_NO_UNKNOWN,
        ),
        *TAIL,
    ),
)

SEARCH = Form(
    "search",
    "S",
    urgent=False,
    steps=(
        RELATION,
        Step(
            "subject",
            StepKind.TEXT,
            N_("Whose home or office was searched?"),
            N_("Searched"),
            required=True,
            optional_when=_ABOUT_ME,
            max_length=200,
            subject=True,
        ),
        Step(
            "when",
            StepKind.DATETIME,
            N_("When was the search? For example: today 7:00, yesterday morning, 20.11."),
            N_("When"),
            required=True,
            facet="incident_date",
        ),
        ACCOUNT,
        REGION,
        _agency(N_("Which agency searched?")),
        Step(
            "sanction",
            StepKind.CHOICE,
            N_("Was a court sanction for the search shown?"),
            N_("Court sanction"),
            vocabulary=vocab.YES_NO_UNKNOWN,
        ),
        Step(
            "seized",
            StepKind.MULTI,
            N_("What was seized? Choose all that apply, then press Done."),
            N_("Seized"),
            vocabulary=vocab.SEIZED,
        ),
        Step(
            "seized_other",
            StepKind.TEXT,
            N_("What else was seized?"),
            N_("Also seized"),
            when=lambda answers: "other" in (answers.get("seized") or ()),
            max_length=300,
        ),
        Step(
            "present",
            StepKind.CHOICE,
            N_("Were a lawyer or attesting witnesses present?"),
            N_("Present"),
            vocabulary=vocab.PRESENT_AT_SEARCH,
        ),
        *TAIL,
    ),
)

ACCOUNT_FREEZE = Form(
    "account_freeze",
    "F",
    urgent=False,
    steps=(
        RELATION,
        Step(
            "subject",
            StepKind.TEXT,
            N_("Whose account was frozen?"),
            N_("Account holder"),
            required=True,
            optional_when=_ABOUT_ME,
            max_length=200,
            subject=True,
        ),
        Step(
            "noticed",
            StepKind.DATE,
            N_("When was the freeze noticed? For example: today, yesterday, 18.11."),
            N_("Noticed"),
            required=True,
            facet="incident_date",
        ),
        ACCOUNT,
        Step(
            "bank",
            StepKind.CHOICE,
            N_("Which bank?"),
            N_("Bank"),
            required=True,
            vocabulary=vocab.BANKS,
        ),
        REGION,
        Step(
            "how_learned",
            StepKind.CHOICE,
            N_("How did you learn about it?"),
            N_("Learned"),
            vocabulary=vocab.HOW_LEARNED,
        ),
        Step(
            "reason",
            StepKind.CHOICE,
            N_("What reason was given?"),
            N_("Reason given"),
            vocabulary=vocab.FREEZE_REASONS,
        ),
        Step(
            "donations",
            StepKind.CHOICE,
            N_(
                "Is it linked to donations or fundraising "
                "(for example for political prisoners' families)?"
            ),
            N_("Donations"),
            vocabulary=vocab.YES_NO_UNKNOWN,
        ),
        Step(
            "amount",
            StepKind.TEXT,
            N_("Amount frozen, if you wish to say (for example 150 000 tenge)."),
            N_("Amount"),
            max_length=100,
        ),
        *TAIL,
    ),
)

SUMMONS = Form(
    "summons",
    "C",
    urgent=False,
    steps=(
        RELATION,
        Step(
            "subject",
            StepKind.TEXT,
            N_("Who was summoned?"),
            N_("Summoned"),
            required=True,
            optional_when=_ABOUT_ME,
            max_length=200,
            subject=True,
        ),
        Step(
            "appointment",
            StepKind.DATETIME,
            N_("Date and time of the appointment? For example: tomorrow 10:00, 25.11 15:30."),
            N_("Appointment"),
            required=True,
            prefer=Prefer.FUTURE,
            future_days=366,
            exact_day=True,  # the check-in is timed from it
            facet="incident_date",
        ),
        ACCOUNT,
        _agency(N_("Which agency summoned the person?")),
        REGION,
        Step(
            "case_status",
            StepKind.CHOICE,
            N_("In what status is the person summoned?"),
            N_("Case status"),
            vocabulary=vocab.CASE_STATUS,
        ),
        ARTICLE,
        Step(
            "summons_photo",
            StepKind.MEDIA,
            N_("If there is a written summons, send a photo of it, then press Done."),
            N_("Written summons"),
            max_items=4,
        ),
        *TAIL[:3],
        Step(
            "checkin",
            StepKind.CHOICE,
            N_(
                "Should the bot check on you after the appointment and alert the team "
                "if you do not answer?"
            ),
            N_("Check-in"),
            vocabulary=vocab.YES_NO,
            when=_answer_is("contact", "chat"),
        ),
        *TAIL[3:],
    ),
)

OTHER = Form(
    "other",
    "X",
    urgent=False,
    steps=(
        Step(
            "other_kind",
            StepKind.CHOICE,
            N_("What happened?"),
            N_("Kind"),
            required=True,
            vocabulary=vocab.OTHER_KINDS,
        ),
        RELATION,
        Step(
            "subject",
            StepKind.TEXT,
            N_("Who is affected?"),
            N_("Affected"),
            required=True,
            optional_when=_ABOUT_ME,
            max_length=200,
            subject=True,
        ),
        Step(
            "when",
            StepKind.DATE,
            N_("When did it happen? For example: today, yesterday, 20.11."),
            N_("When"),
            required=True,
            facet="incident_date",
        ),
        ACCOUNT,
        REGION,
        Step(
            "agency",
            StepKind.CHOICE,
            N_("Which agency was involved, if any?"),
            N_("Agency"),
            vocabulary=vocab.AGENCIES,
            when=_answer_in(
                "other_kind",
                frozenset({"admin_arrest", "travel_ban", "torture", "threats", "family_pressure"}),
            ),
        ),
        *TAIL,
    ),
)

FORMS: dict[str, Form] = {
    form.key: form for form in (DETENTION, SEARCH, ACCOUNT_FREEZE, SUMMONS, OTHER)
}
