"""Vocabularies of the forms (DESIGN.md section 2), each option a stable key and a label msgid.

Keys are what is stored and counted (they never change once reports use them); labels are
translated by the catalogs in locales/.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from handlers.engine.text import N_


@dataclass(frozen=True)
class Option:
    key: str
    label: str  # msgid


@dataclass(frozen=True)
class Vocabulary:
    name: str
    options: tuple[Option, ...]

    def option_keys(self) -> tuple[str, ...]:
        return tuple(option.key for option in self.options)

    def get(self, key: str) -> Option | None:
        for option in self.options:
            if option.key == key:
                return option
        return None


def _vocab(name: str, pairs: Iterable[tuple[str, str]]) -> Vocabulary:
    return Vocabulary(name, tuple(Option(key, label) for key, label in pairs))


INCIDENT_TYPES = _vocab(
    "incident_type",
    [
        ("detention", N_("Detention")),
        ("search", N_("Search")),
        ("account_freeze", N_("Frozen bank account")),
        ("summons", N_("Summons for questioning")),
        ("other", N_("Other persecution")),
    ],
)

REGIONS = _vocab(
    "region",
    [
        ("astana", N_("Astana")),
        ("almaty", N_("Almaty")),
        ("shymkent", N_("Shymkent")),
        ("abai", N_("Abai Region")),
        ("akmola", N_("Akmola Region")),
        ("aktobe", N_("Aktobe Region")),
        ("almaty_region", N_("Almaty Region")),
        ("atyrau", N_("Atyrau Region")),
        ("east_kazakhstan", N_("East Kazakhstan Region")),
        ("jambyl", N_("Jambyl Region")),
        ("jetisu", N_("Jetisu Region")),
        ("karaganda", N_("Karaganda Region")),
        ("kostanay", N_("Kostanay Region")),
        ("kyzylorda", N_("Kyzylorda Region")),
        ("mangystau", N_("Mangystau Region")),
        ("north_kazakhstan", N_("North Kazakhstan Region")),
        ("pavlodar", N_("Pavlodar Region")),
        ("turkistan", N_("Turkistan Region")),
        ("ulytau", N_("Ulytau Region")),
        ("west_kazakhstan", N_("West Kazakhstan Region")),
        ("abroad", N_("Abroad")),
        ("undisclosed", N_("Prefer not to say")),
    ],
)

AGENCIES = _vocab(
    "agency",
    [
        ("police", N_("Police")),
        ("knb", N_("National Security Committee (KNB)")),
        ("anti_extremism", N_("Police anti-extremism unit")),
        ("special_forces", N_("Special forces")),
        ("prosecutor", N_("Prosecutor's office")),
        ("anti_corruption", N_("Anti-Corruption Agency")),
        ("financial_monitoring", N_("Financial Monitoring Agency")),
        ("military", N_("Military")),
        ("unknown", N_("Unknown")),
    ],
)

ARTICLES = _vocab(
    "article",
    [
        ("cc405", N_('Art. 405: banned "extremist" organisation')),
        ("cc258", N_("Art. 258: financing extremism")),
        ("cc174", N_("Art. 174: inciting discord")),
        ("cc274", N_("Art. 274: false information")),
        ("cc272", N_("Art. 272: mass disorder")),
        ("cc269", N_("Art. 269: attack on buildings")),
        ("cc255", N_("Art. 255: terrorism")),
        ("ac488", N_("Admin. Code 488: assemblies")),
        ("other", N_("Other article")),
        ("unknown", N_("Unknown")),
    ],
)

BANKS = _vocab(
    "bank",
    [
        ("kaspi", N_("Kaspi")),
        ("halyk", N_("Halyk")),
        ("freedom", N_("Freedom")),
        ("jusan", N_("Jusan")),
        ("forte", N_("ForteBank")),
        ("bcc", N_("Bank CenterCredit")),
        ("home_credit", N_("Home Credit")),
        ("otbasy", N_("Otbasy")),
        ("bereke", N_("Bereke")),
        ("eurasian", N_("Eurasian")),
        ("rbk", N_("RBK")),
        ("altyn", N_("Altyn")),
        ("other", N_("Other bank")),
    ],
)

DETENTION_PLACES = _vocab(
    "held_where",
    [
        ("police_department", N_("Police department")),
        ("ivs", N_("Temporary detention facility (IVS)")),
        ("sizo", N_("Pre-trial detention (SIZO)")),
        ("special_reception", N_("Special reception centre")),
        ("psychiatric", N_("Psychiatric hospital")),
        ("unknown", N_("Unknown")),
    ],
)

YES_NO_UNKNOWN = _vocab(
    "yes_no_unknown",
    [("yes", N_("Yes")), ("no", N_("No")), ("unknown", N_("Don't know"))],
)

YES_NO = _vocab("yes_no", [("yes", N_("Yes")), ("no", N_("No"))])

SEIZED = _vocab(
    "seized",
    [
        ("phones", N_("Phones")),
        ("computers", N_("Computers")),
        ("documents", N_("Documents")),
        ("money", N_("Money")),
        ("other", N_("Something else")),
    ],
)

PRESENT_AT_SEARCH = _vocab(
    "present",
    [
        ("lawyer", N_("A lawyer")),
        ("witnesses", N_("Attesting witnesses")),
        ("both", N_("Both")),
        ("neither", N_("Neither")),
        ("unknown", N_("Don't know")),
    ],
)

HOW_LEARNED = _vocab(
    "how_learned",
    [
        ("app", N_("In the bank's app")),
        ("sms", N_("By SMS")),
        ("branch", N_("At a bank branch")),
        ("other", N_("Another way")),
    ],
)

FREEZE_REASONS = _vocab(
    "freeze_reason",
    [
        ("court", N_("Court decision")),
        ("investigator", N_("Investigator's order")),
        ("financial_monitoring", N_("Financial monitoring")),
        ("none", N_("No reason given")),
        ("unknown", N_("Unknown")),
    ],
)

CASE_STATUS = _vocab(
    "case_status",
    [
        ("witness", N_("Witness")),
        ("witness_defence", N_("Witness with the right to defence")),
        ("suspect", N_("Suspect")),
        ("unknown", N_("Unknown")),
    ],
)

OTHER_KINDS = _vocab(
    "other_kind",
    [
        ("threats", N_("Threats")),
        ("admin_arrest", N_("Administrative arrest")),
        ("travel_ban", N_("Travel ban")),
        ("dismissal", N_("Dismissal from work or study")),
        ("assembly_refused", N_("Refusal of an assembly")),
        ("torture", N_("Torture or ill-treatment")),
        ("family_pressure", N_("Pressure on family")),
        ("other", N_("Something else")),
    ],
)

RELATIONS = _vocab(
    "relation",
    [
        ("self", N_("It happened to me")),
        ("family", N_("A family member")),
        ("friend", N_("A friend or colleague")),
        ("lawyer", N_("Their lawyer")),
        ("witness", N_("A witness")),
    ],
)

CONTACT = _vocab(
    "contact",
    [
        ("chat", N_("Here, in this chat")),
        ("other", N_("Another way (I'll write it)")),
        ("none", N_("Do not contact me")),
    ],
)

CONSENT = _vocab(
    "consent",
    [
        ("named", N_("Publicly, with names")),
        ("anonymised", N_("Only anonymised")),
        ("statistics", N_("Only in statistics")),
    ],
)

ALL_VOCABULARIES = (
    INCIDENT_TYPES,
    REGIONS,
    AGENCIES,
    ARTICLES,
    BANKS,
    DETENTION_PLACES,
    YES_NO_UNKNOWN,
    YES_NO,
    SEIZED,
    PRESENT_AT_SEARCH,
    HOW_LEARNED,
    FREEZE_REASONS,
    CASE_STATUS,
    OTHER_KINDS,
    RELATIONS,
    CONTACT,
    CONSENT,
)
