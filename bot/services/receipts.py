"""What a reporter is told once their report is sent, and what /help says about it.

Per incident type and urgency, in the reporter's language: that it arrived (with its code), how
urgently it is handled, how the team will get in touch, what to do now, the check-in a summons
asked for, and the coalition's own help line (HELP_CONTACTS). The words are catalog entries and
the help line one setting, so the coalition changes them in one place (README, "Reporting").
"""

from __future__ import annotations

import datetime as dt

from handlers.engine.render import Translator
from handlers.engine.text import N_

RECEIVED = N_("Your report has been received. Its code is {code}.")

URGENCY = {
    True: N_("It is marked urgent: the team on duty has been alerted now."),
    False: N_("The team reads every report and decides how it can help."),
}

CONTACT = {
    "chat": N_("If the team has questions, they will write to you here."),
    "other": N_("If the team has questions, they will contact you the way you wrote."),
    "none": N_("You asked not to be contacted, so the team will not write to you."),
}

# What a person can do in the first hours, per form; a short line, not legal advice.
WHAT_TO_DO = {
    "detention": N_(
        "What to do now: find a lawyer for the detained person (they have the right to one from "
        "the moment of detention) and write down who detained them, where and when."
    ),
    "search": N_(
        "What to do now: write down what was seized and keep your copy of the search record, "
        "if you were given one."
    ),
    "account_freeze": N_(
        "What to do now: ask the bank in writing for the reason and the legal basis of the "
        "freeze, and keep its answer."
    ),
    "summons": N_(
        "What to do now: you may come with a lawyer, and you need not sign anything you have "
        "not read."
    ),
    "other": N_(
        "What to do now: write down what happened, when and who was involved, while you "
        "remember it."
    ),
}

CHECKIN = N_(
    "The bot will check on you on {when}. If you do not answer within an hour, the team is alerted."
)
WRITE_BACK = N_(
    "Facebook Messenger lets the bot write to you only within 24 hours of your last message, so "
    "it cannot check on you after the appointment. Please write here after {when} to say you "
    "are back and safe; if you need help, write that."
)
HELP_NOW = N_("If you need help now: {contacts}")
WRITE_MORE = N_("You can write here at any time to add something to this report.")

HELP_AFTER_SENDING = N_(
    "After sending: you get a code and a note of what happens next. Anything you write here "
    "later is offered as an addition to your report, and the team sees it under the report. "
    "/new starts a new report."
)


def receipt_text(
    t: Translator,
    *,
    code: str,
    form: str,
    urgent: bool,
    contact: str | None,
    checkin_at: dt.datetime | None,
    help_contacts: str,
    write_back_after: dt.datetime | None = None,
) -> str:
    """The receipt as plain text (the caller escapes it), one paragraph a point."""
    paragraphs = [t(RECEIVED, code=code) + " " + t(URGENCY[urgent])]
    if contact in CONTACT:
        paragraphs[0] += " " + t(CONTACT[contact])
    if form in WHAT_TO_DO:
        paragraphs.append(t(WHAT_TO_DO[form]))
    if checkin_at is not None:
        paragraphs.append(t(CHECKIN, when=t.datetime(checkin_at)))
    if write_back_after is not None:
        paragraphs.append(t(WRITE_BACK, when=t.datetime(write_back_after)))
    if help_contacts:
        paragraphs.append(t(HELP_NOW, contacts=help_contacts))
    paragraphs.append(t(WRITE_MORE))
    return "\n\n".join(paragraphs)


def help_text(t: Translator, help_contacts: str) -> str:
    """What /help adds on both channels: what happens after sending, and the help line."""
    text = t(HELP_AFTER_SENDING)
    if help_contacts:
        text += "\n\n" + t(HELP_NOW, contacts=help_contacts)
    return text
