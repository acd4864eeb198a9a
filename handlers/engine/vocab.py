"""Vocabularies of the forms (README, "Reporting"), each option a stable key and a label msgid.

Keys are what is stored and counted (they never change once reports use them); labels are
translated by the catalogs in locales/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from handlers.engine.text import N_


@dataclass(frozen=True)
class Option:
    key: str
    label: str  # msgid
    # A shorter msgid for buttons with a length limit (Messenger's quick replies take 20
    # characters), where the label does not fit in some language. Never a cut label.
    short_label: str | None = None
    # Sorted vocabularies sort within a group and keep groups in order (the three cities,
    # then the regions, then "abroad" and "prefer not to say").
    group: int = 0


# Alphabetical order per language. Python compares code points, which puts the Kazakh letters
# (ә, ғ, қ, ң, ө, ұ, ү, һ, і) after я; the Kazakh Cyrillic alphabet (as in its official order,
# e.g. Wikipedia "Kazakh alphabets") puts each after its base letter.
_ALPHABETS = {
    "kk": "аәбвгғдеёжзийкқлмнңоөпрстуұүфхһцчшщъыіьэюя",
    "ru": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
}
# Words that say what kind of place a label is rather than which one: Russian names some
# regions "область Абай"; a reader looks for Абай under А.
_GENERIC_PREFIXES = ("область ",)
# Kazakh letters in a Russian label ("область Ұлытау") sort as the Russian letter they are read
# as, not after я.
_KK_AS_RU = str.maketrans("әғқңөұүһі", "агкноуухи")


def sort_key(label: str, locale: str) -> tuple[int, ...]:
    """A collation key for ``label`` in ``locale``: its alphabet's order, case ignored."""
    text = label.lower()
    for prefix in _GENERIC_PREFIXES:
        text = text.removeprefix(prefix)
    if locale[:2] != "kk":
        text = text.translate(_KK_AS_RU)
    alphabet = _ALPHABETS.get(locale[:2], "")
    return tuple(alphabet.index(ch) if ch in alphabet else len(alphabet) + ord(ch) for ch in text)


@dataclass(frozen=True)
class Vocabulary:
    name: str
    options: tuple[Option, ...]
    # Shown in alphabetical order of the reader's language (regions); otherwise as listed,
    # which is by how often an option is chosen.
    sorted: bool = False

    def option_keys(self) -> tuple[str, ...]:
        return tuple(option.key for option in self.options)

    def ordered(self, translate: Callable[[str], str], locale: str) -> tuple[Option, ...]:
        """The options in the order a reader of ``locale`` expects them on buttons."""
        if not self.sorted:
            return self.options
        return tuple(
            sorted(
                self.options,
                key=lambda option: (option.group, sort_key(translate(option.label), locale)),
            )
        )

    def get(self, key: str) -> Option | None:
        for option in self.options:
            if option.key == key:
                return option
        return None


def _vocab(
    name: str,
    pairs: Iterable[tuple[str, str] | tuple[str, str, str]],
    *,
    groups: dict[str, int] | None = None,
) -> Vocabulary:
    """Options as (key, label) or (key, label, short label); ``groups`` makes it sorted."""
    options = tuple(Option(*pair) for pair in pairs)
    if groups is None:
        return Vocabulary(name, options)
    return Vocabulary(
        name,
        tuple(Option(o.key, o.label, o.short_label, groups.get(o.key, 1)) for o in options),
        sorted=True,
    )


INCIDENT_TYPES = _vocab(
    "incident_type",
    [
        ("detention", N_("Detention")),
        ("search", N_("Search")),
        ("account_freeze", N_("Frozen bank account"), N_("Frozen account")),
        ("summons", N_("Summons for questioning"), N_("Summons")),
        ("other", N_("Other persecution"), N_("Other pressure")),
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
        ("east_kazakhstan", N_("East Kazakhstan Region"), N_("East Kazakhstan")),
        ("jambyl", N_("Jambyl Region")),
        ("jetisu", N_("Jetisu Region")),
        ("karaganda", N_("Karaganda Region"), N_("Karaganda reg.")),
        ("kostanay", N_("Kostanay Region")),
        ("kyzylorda", N_("Kyzylorda Region"), N_("Kyzylorda reg.")),
        ("mangystau", N_("Mangystau Region"), N_("Mangystau reg.")),
        ("north_kazakhstan", N_("North Kazakhstan Region"), N_("North Kazakhstan")),
        ("pavlodar", N_("Pavlodar Region")),
        ("turkistan", N_("Turkistan Region"), N_("Turkistan reg.")),
        ("ulytau", N_("Ulytau Region")),
        ("west_kazakhstan", N_("West Kazakhstan Region"), N_("West Kazakhstan")),
        ("abroad", N_("Abroad")),
        ("undisclosed", N_("Prefer not to say")),
    ],
    # The cities of republican significance first, then the regions, then the two answers
    # that are no region: each group in the reader's alphabetical order.
    groups={"astana": 0, "almaty": 0, "shymkent": 0, "abroad": 2, "undisclosed": 3},
)

AGENCIES = _vocab(
    "agency",
    [
        ("police", N_("Police")),
        ("knb", N_("National Security (KNB)"), N_("KNB")),
        ("anti_extremism", N_("Police anti-extremism unit"), N_("Anti-extremism unit")),
        ("special_forces", N_("Special forces")),
        ("prosecutor", N_("Prosecutor's office")),
        ("anti_corruption", N_("Anti-Corruption Agency"), N_("Anti-corruption")),
        ("financial_monitoring", N_("Financial Monitoring Agency"), N_("AFM")),
        ("military", N_("Military")),
        ("unknown", N_("Unknown")),
    ],
)

ARTICLES = _vocab(
    "article",
    [
        ("cc405", N_("Art. 405: banned organisation"), N_("Art. 405")),
        ("cc258", N_("Art. 258: financing extremism"), N_("Art. 258")),
        ("cc174", N_("Art. 174: inciting discord"), N_("Art. 174")),
        ("cc274", N_("Art. 274: false information"), N_("Art. 274")),
        ("cc272", N_("Art. 272: mass disorder"), N_("Art. 272")),
        ("cc269", N_("Art. 269: attack on buildings"), N_("Art. 269")),
        ("cc255", N_("Art. 255: terrorism"), N_("Art. 255")),
        ("ac488", N_("Admin. Code 488: assemblies"), N_("Admin. Code 488")),
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
        ("ivs", N_("Temporary detention (IVS)"), N_("IVS")),
        ("sizo", N_("Pre-trial detention (SIZO)"), N_("SIZO")),
        ("special_reception", N_("Special reception centre"), N_("Special reception")),
        ("psychiatric", N_("Psychiatric hospital"), N_("Psychiatric ward")),
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
        ("both", N_("Both"), N_("Both of them")),
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
        ("investigator", N_("Investigator's order"), N_("By the investigator")),
        ("financial_monitoring", N_("Financial monitoring"), N_("Monitoring (AFM)")),
        ("none", N_("No reason given")),
        ("unknown", N_("Unknown")),
    ],
)

CASE_STATUS = _vocab(
    "case_status",
    [
        ("witness", N_("Witness")),
        ("witness_defence", N_("Witness entitled to defence"), N_("Witness w/ defence")),
        ("suspect", N_("Suspect")),
        ("unknown", N_("Unknown")),
    ],
)

OTHER_KINDS = _vocab(
    "other_kind",
    [
        ("threats", N_("Threats")),
        ("admin_arrest", N_("Administrative arrest"), N_("Admin. arrest")),
        ("travel_ban", N_("Travel ban")),
        ("dismissal", N_("Dismissal from work or study"), N_("Dismissal")),
        ("assembly_refused", N_("Refusal of an assembly"), N_("Assembly refused")),
        ("torture", N_("Torture or ill-treatment"), N_("Torture")),
        ("family_pressure", N_("Pressure on family")),
        ("other", N_("Something else")),
    ],
)

RELATIONS = _vocab(
    "relation",
    [
        ("self", N_("It happened to me"), N_("It was me")),
        ("family", N_("A family member")),
        ("friend", N_("A friend or colleague"), N_("Friend or colleague")),
        ("lawyer", N_("Their lawyer"), N_("Lawyer")),
        ("witness", N_("A witness")),
    ],
)

CONTACT = _vocab(
    "contact",
    [
        ("chat", N_("Here, in this chat")),
        ("other", N_("Another way (I'll write it)"), N_("Another way")),
        ("none", N_("Do not contact me"), N_("No contact")),
    ],
)

CONSENT = _vocab(
    "consent",
    [
        ("named", N_("Publicly, with names"), N_("Public, named")),
        ("anonymised", N_("Only anonymised"), N_("Anonymised")),
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
