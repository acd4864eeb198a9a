"""The web form's pages: the engine's replies as server-rendered HTML (README, "The web form").

The replies are the form driver's (bot/services/form.py, `FormDriver.feed`); a button on a page
posts one of the form's actions (`action_value`), read back as the chats' buttons are
(`posted_action`).

No JavaScript, no resource from elsewhere: every page is one HTML document with a stylesheet
from the same server, every action a POST form. Every value that comes from a person or a
catalog goes through `esc` (html.escape); nothing else is put into the markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.services import messages, receipts
from bot.services.messages import FORM_INTENTS, Intent
from bot.services.receipts import CHECKIN as CHECKIN_AT
from handlers.engine import engine
from handlers.engine.forms import StepKind
from handlers.engine.render import Translator, format_answer
from handlers.engine.text import N_
from handlers.engine.vocab import CONTACT, INCIDENT_TYPES
from storage.web import Letter

LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}
BASE = "/report/"
# The review page's `step` (page_step).
REVIEW = "review"

TITLE = N_("Report to the human-rights team")
INTRO = N_(
    "Here you can report a detention, a search, a frozen bank account, a summons or other "
    "persecution in Kazakhstan, without an account or a phone number. Your report goes to a "
    "team of human-rights defenders."
)
NOTICE = N_(
    "Before you report, please read this.\n\n"
    "• What is collected: your answers and the files you send. Hidden data in pictures, such "
    "as the place where they were taken, is removed.\n"
    "• Who sees it: the human-rights defenders of the coalition who check reports. Reports "
    "are stored encrypted; only the coalition can open them.\n"
    "• This site keeps no address, browser name or cookie of yours, only a temporary one for "
    "the report being written. If your internet connection may be watched, use Tor Browser.\n"
    "• After sending you get a code and a passphrase. With them you can come back here to read "
    "the team's questions and answer them."
)
CHALLENGE = N_("So that we know you are a person: what is {a} plus {b}? Write the number.")
START = N_("I agree, start")
OPEN_MAILBOX = N_("Read the team's messages about a report you sent")
NEXT = N_("Next")
FILE_LABEL = N_("Photo or PDF document")
ATTACH = N_("Attach")
SENT_TITLE = N_("Your report was sent")
PASSPHRASE = N_("Your passphrase")
PASSPHRASE_HELP = N_(
    "Write down the code and this passphrase, or remember them, and keep them safe. With both "
    "you can read the team's questions here and answer them. The passphrase is shown only now: "
    "nobody can show it to you again."
)
MAILBOX_TITLE = N_("Messages about your report")
CODE_LABEL = N_("Report code")
OPEN = N_("Open")
NO_LETTERS = N_("No messages from the team yet.")
ANSWER_LABEL = N_("Your answer")
SEND_ANSWER = N_("Send the answer")
ANSWER_SENT = N_("Thank you, your answer was passed to the team.")
CANCELLED = N_("The report was cancelled and nothing was sent.")
# A typed answer or a file posted from an older page of the draft (another tab, the browser's
# Back): not applied, so that it cannot answer the question the draft is on now.
STALE = N_("This page was out of date; here is where your report is now. Nothing was changed.")
COME_BACK = N_("To answer, come back to this page with your code and passphrase.")
# The web's /forget (bot/services/privacy.py): from the opened mailbox, confirmed.
ERASE = N_("Erase my mailbox and my link to the report")
ERASE_HINT = N_(
    "If you no longer want to be reachable about this report, you can erase this mailbox."
)
ERASE_QUESTION = N_(
    "Erase your mailbox and your link to the report {code}?\n\nThe team's messages here are "
    "deleted, and nobody can open this mailbox again, not even with the passphrase: the team "
    "can no longer ask you anything, and safety check-ins are cancelled. Your report stays with "
    "the team for the record, with nothing that leads to you. This cannot be undone."
)
ERASE_YES = N_("Yes, erase")
ERASE_NO = N_("No, keep the mailbox")
ERASED = N_(
    "Done: your mailbox and your link to the report are erased. The code and the passphrase "
    "no longer open anything."
)


# The forms and the receipt are shared with the chats; where their wording speaks of a chat, a
# web page says it the web's way.
_CHAT = CONTACT.get("chat")
assert _CHAT is not None
WEB_WORDING = {
    _CHAT.label: N_("Here, on this site, with a code and passphrase"),
    receipts.CONTACT["chat"]: N_(
        "If the team has questions, they leave them here, on this site: come back with your code "
        "and passphrase to read and answer them."
    ),
    receipts.WRITE_MORE: N_(
        "With your code and passphrase you can also add something to this report at any time."
    ),
}


@dataclass(frozen=True)
class WebTranslator(Translator):
    """The reader's Translator, with WEB_WORDING in place of the chats' words."""

    def __call__(self, msgid: str, **params: Any) -> str:
        return super().__call__(WEB_WORDING.get(msgid, msgid), **params)


def for_the_web(t: Translator) -> Translator:
    return WebTranslator(t.catalogs, t.locale, t.tz)


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def paragraphs(text: str) -> str:
    """Plain text as paragraphs; bullet lines as a list."""
    out: list[str] = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        bullets = [line for line in lines if line.startswith("• ")]
        if bullets and len(bullets) == len(lines):
            items = "".join(f"<li>{esc(line[2:])}</li>" for line in lines)
            out.append(f"<ul>{items}</ul>")
        elif lines:
            out.append("<p>" + "<br>".join(esc(line) for line in lines) + "</p>")
    return "".join(out)


def layout(t: Translator, title: str, body: str, *, here: str | None) -> str:
    """A whole page. `here`: the path the language links lead back to; None for a page that
    must not be left by accident (the passphrase is shown once)."""
    links = (
        ""
        if here is None
        else " ".join(
            f'<a href="{esc(here)}?lang={code}" lang="{code}" hreflang="{code}"'
            + (' aria-current="true"' if code == t.locale else "")
            + f">{esc(name)}</a>"
            for code, name in LANGUAGE_NAMES.items()
        )
    )
    return (
        "<!doctype html>"
        f'<html lang="{esc(t.locale)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)}</title>"
        f'<link rel="stylesheet" href="{BASE}style.css"></head><body>'
        + (f'<nav aria-label="{esc(t(N_("Language")))}">{links}</nav>' if links else "")
        + f"<main>{body}</main></body></html>"
    )


def _error(t: Translator, message: str | None) -> str:
    return f'<p class="error" role="alert">{esc(message)}</p>' if message else ""


def _button(label: str, value: str, *, primary: bool = False) -> str:
    cls = "primary" if primary else "secondary"
    return (
        f'<button type="submit" name="do" value="{esc(value)}" class="{cls}">{esc(label)}</button>'
    )


# What the form's buttons post ("do"): one of the form's actions, written as its intent, the
# step and the value (`action_value`), the same three parts as Telegram's callback data and
# Messenger's payloads, read back by the same function (bot/services/messages.py, `read_back`)
# and made the engine's input by the form driver (bot/services/form.py, `engine_input`), the one
# table of the form's actions. Two presses are the page's own: the typed answer (its field) and
# the files attached (the file field) without going on.
TEXT = "text"
UPLOAD = "upload"
_FORM_ACTIONS = {intent.value: intent for intent in FORM_INTENTS}


def action_value(intent: Intent, step: str = "", value: str = "") -> str:
    """The value of a button that does one of the form's actions."""
    return ":".join((intent.value, step, value)).rstrip(":")


def posted_action(posted: str) -> tuple[Intent, tuple[str, ...]] | None:
    """A posted button's value read back as one of the form's actions; None for a value that
    is none (the page's own presses, a forged one)."""
    name, _, rest = posted.partition(":")
    step, _, value = rest.partition(":")
    return messages.read_back(_FORM_ACTIONS.get(name), step, value)


@dataclass(frozen=True)
class Challenge:
    a: int
    b: int
    signed: str


def start_page(t: Translator, challenge: Challenge, *, error: str | None = None) -> str:
    body = (
        f"<h1>{esc(t(TITLE))}</h1>{_error(t, error)}<p>{esc(t(INTRO))}</p>"
        f"{paragraphs(t(NOTICE))}"
        f'<form method="post" action="{BASE}start">'
        f'<input type="hidden" name="lang" value="{esc(t.locale)}">{_challenge(t, challenge)}'
        f'<button type="submit" class="primary">{esc(t(START))}</button></form>'
        f'<p><a href="{BASE}mailbox">{esc(t(OPEN_MAILBOX))}</a></p>'
    )
    return layout(t, t(TITLE), body, here=BASE)


def _form(t: Translator, inner: str, step: str = "") -> str:
    return (
        f'<form method="post" action="{BASE}form" enctype="multipart/form-data">'
        f'<input type="hidden" name="step" value="{esc(step)}">'
        f'<input type="hidden" name="lang" value="{esc(t.locale)}">{inner}</form>'
    )


def page_step(reply: engine.Reply) -> str:
    """The step a page of `reply` names in its hidden `step` field: the question's key, "review"
    for the review, none for the type menu. A typed answer or a file is applied only when posted
    from the page of the step the draft is on (handlers/web/routes.py)."""
    if isinstance(reply, engine.AskStep):
        return reply.step.key
    return REVIEW if isinstance(reply, engine.ShowReview) else ""


def form_page(t: Translator, reply: engine.Reply, *, notes: Sequence[str] = ()) -> str:
    """The page for one engine reply: the type menu, one question, or the review."""
    said = "".join(f'<p class="note" role="status">{esc(note)}</p>' for note in notes)
    if isinstance(reply, engine.AskStep):
        body = _ask_step(t, reply)
    elif isinstance(reply, engine.ShowReview):
        body = _review(t, reply)
    else:
        error = t.msg(reply.error) if isinstance(reply, engine.AskForm) and reply.error else None
        buttons = "".join(
            _button(t(option.label), action_value(Intent.CHOOSE_FORM, value=option.key))
            for option in INCIDENT_TYPES.options
        )
        body = f"<h1>{esc(t(N_('What do you want to report?')))}</h1>{_error(t, error)}" + _form(
            t, f'<div class="choices">{buttons}</div>'
        )
    return layout(t, t(TITLE), said + body, here=f"{BASE}form")


def _nav(t: Translator, reply: engine.AskStep) -> str:
    step = reply.step.key
    buttons: list[str] = []
    if reply.can_skip:
        buttons.append(_button(t(N_("Skip")), action_value(Intent.SKIP, step)))
    if reply.can_skip_details:
        skip = action_value(Intent.SKIP_DETAILS, step)
        buttons.append(_button(t(N_("Skip the details")), skip))
    if reply.can_back:
        buttons.append(_button(t(N_("Back")), action_value(Intent.BACK)))
    buttons.append(_button(t(N_("Cancel")), action_value(Intent.CANCEL)))
    return f'<div class="nav">{"".join(buttons)}</div>'


def _ask_step(t: Translator, reply: engine.AskStep) -> str:
    step = reply.step
    error = t.msg(reply.error) if reply.error is not None else None
    parts: list[str] = []
    question = esc(t(step.question))
    if reply.pending is not None:
        confirm = action_value(Intent.PICK, step.key, engine.CONFIRM)
        parts.append(_button(t(N_("Yes, that's right")), confirm, primary=True))
    if reply.suggestion is not None and step.vocabulary is not None:
        suggested = step.vocabulary.get(reply.suggestion)
        if suggested is not None:
            pick = action_value(Intent.PICK, step.key, suggested.key)
            parts.append(_button("👉 " + t(suggested.label), pick, primary=True))
    if step.kind == StepKind.CHOICE and step.vocabulary is not None:
        options = step.vocabulary.ordered(t, t.locale)
        buttons = "".join(
            _button(
                ("✓ " if option.key == reply.value else "") + t(option.label),
                action_value(Intent.PICK, step.key, option.key),
            )
            for option in options
        )
        heading = f'<h1 id="q">{question}</h1>'
        parts.append(f'<div class="choices" role="group" aria-labelledby="q">{buttons}</div>')
    elif step.kind == StepKind.MULTI and step.vocabulary is not None:
        chosen = set(reply.value or [])
        boxes = "".join(
            f'<label class="check"><input type="checkbox" name="option" value="{esc(o.key)}"'
            + (" checked" if o.key in chosen else "")
            + f"> {esc(t(o.label))}</label>"
            for o in step.vocabulary.ordered(t, t.locale)
        )
        heading = f"<h1>{question}</h1>"
        # The boxes ticked and unticked are read as taps before Done (handlers/web/routes.py).
        parts.insert(0, _button(t(NEXT), action_value(Intent.DONE, step.key), primary=True))
        parts.insert(
            0, f'<fieldset><legend class="visually-hidden">{question}</legend>{boxes}</fieldset>'
        )
    elif step.kind == StepKind.MEDIA:
        heading = f"<h1>{question}</h1>"
        count = len(reply.value or [])
        if count:
            received = t.plural("Received {n} file.", "Received {n} files.", count)
            parts.append(f'<p role="status">{esc(received)}</p>')
        parts.append(
            f'<label for="file">{esc(t(FILE_LABEL))}</label>'
            '<input id="file" type="file" name="file" multiple '
            'accept="image/*,application/pdf">'
            + _button(t(ATTACH), UPLOAD)
            + _button(t(N_("Done")), action_value(Intent.DONE, step.key), primary=True)
        )
    else:
        heading = f'<h1><label for="text">{question}</label></h1>'
        current = "" if reply.pending is not None else str(reply.value or "")
        if step.kind == StepKind.TEXT:
            rows = 2 if step.max_length <= 300 else 6  # a name, or the person's own words
            field = (
                f'<textarea id="text" name="text" rows="{rows}" maxlength="{step.max_length}">'
                f"{esc(current)}</textarea>"
            )
        else:
            # A date is typed anew; the answer so far is said in words above the field.
            field = '<input id="text" name="text" autocomplete="off">'
            if current:
                answer = t(N_("Current answer: {answer}"), answer=format_answer(step, current, t))
                field = f"<p>{esc(answer)}</p>{field}"
        hint = N_("Type your answer, or press Skip.") if reply.can_skip else N_("Type your answer.")
        parts.insert(
            0, f'<p class="hint">{esc(t(hint))}</p>{field}' + _button(t(NEXT), TEXT, primary=True)
        )
    return heading + _error(t, error) + _form(t, "".join(parts) + _nav(t, reply), page_step(reply))


def _change(label: str, what: str, step: str) -> str:
    """A small "Change this answer" button; its accessible name says which answer."""
    return (
        f'<button type="submit" name="do" value="{esc(action_value(Intent.EDIT, step))}" '
        'class="change" '
        f'aria-label="{esc(label)}: {esc(what)}">{esc(label)}</button>'
    )


def _review(t: Translator, reply: engine.ShowReview) -> str:
    error = t.msg(reply.error) if reply.error is not None else None
    rows = "".join(
        f"<dt>{esc(t(item.step.label))}</dt><dd>{esc(format_answer(item.step, item.value, t))}"
        + _change(t(N_("Change this answer")), t(item.step.label), item.step.key)
        + "</dd>"
        for item in reply.items
    )
    inner = (
        _button(t(N_("Send the report")), action_value(Intent.SUBMIT), primary=True)
        + f"<dl>{rows}</dl>"
        + '<div class="nav">'
        + _button(t(N_("Back")), action_value(Intent.BACK))
        + _button(t(N_("Cancel")), action_value(Intent.CANCEL))
        + "</div>"
    )
    return f"<h1>{esc(t(N_('Please check your report:')))}</h1>{_error(t, error)}" + _form(
        t, inner, page_step(reply)
    )


def sent_page(
    t: Translator, *, code: str, receipt: str, passphrase: str | None, checkin: bool = False
) -> str:
    secret = ""
    if passphrase is not None:
        secret = (
            f"<h2>{esc(t(PASSPHRASE))}</h2>"
            f'<p class="secret"><strong>{esc(passphrase)}</strong></p>'
            f"<p>{esc(t(PASSPHRASE_HELP))}</p>"
        )
    if checkin:
        receipt += "\n\n" + t(COME_BACK)
    body = (
        f"<h1>{esc(t(SENT_TITLE))}</h1>"
        f'<p class="secret">{esc(t(CODE_LABEL))}: <strong>{esc(code)}</strong></p>'
        f"{secret}{paragraphs(receipt)}"
        f'<p><a href="{BASE}mailbox">{esc(t(OPEN_MAILBOX))}</a></p>'
    )
    return layout(t, t(SENT_TITLE), body, here=None)


def message_page(t: Translator, text: str, *, here: str = BASE) -> str:
    body = (
        f'<h1>{esc(t(TITLE))}</h1><p role="status">{esc(text)}</p>'
        f'<p><a href="{BASE}">{esc(t(N_("New report")))}</a></p>'
    )
    return layout(t, t(TITLE), body, here=here)


def _challenge(t: Translator, challenge: Challenge) -> str:
    return (
        f'<input type="hidden" name="challenge" value="{esc(challenge.signed)}">'
        f'<label for="answer">{esc(t(CHALLENGE, a=challenge.a, b=challenge.b))}</label>'
        '<input id="answer" name="answer" inputmode="numeric" autocomplete="off" required>'
    )


def login_page(
    t: Translator,
    *,
    error: str | None = None,
    challenge: Challenge | None = None,
    code: str = "",
) -> str:
    """Code and passphrase; and the start page's sum when many logins arrive at once. The code
    typed is kept, the passphrase never written back into a page."""
    body = (
        f"<h1>{esc(t(MAILBOX_TITLE))}</h1>{_error(t, error)}"
        f'<form method="post" action="{BASE}mailbox">'
        f'<input type="hidden" name="lang" value="{esc(t.locale)}">'
        f'<label for="code">{esc(t(CODE_LABEL))}</label>'
        f'<input id="code" name="code" value="{esc(code)}" autocomplete="off" '
        'autocapitalize="characters" required>'
        f'<label for="passphrase">{esc(t(PASSPHRASE))}</label>'
        '<input id="passphrase" name="passphrase" type="password" autocomplete="off" required>'
        + (_challenge(t, challenge) if challenge is not None else "")
        + f'<button type="submit" class="primary">{esc(t(OPEN))}</button></form>'
    )
    return layout(t, t(MAILBOX_TITLE), body, here=f"{BASE}mailbox")


@dataclass(frozen=True)
class OpenCheckin:
    id: int
    asked: bool  # "are you back and safe?" was asked (else it is due at `due`)
    due: str


def _hidden(t: Translator, code: str, token: str) -> str:
    return (
        f'<input type="hidden" name="lang" value="{esc(t.locale)}">'
        f'<input type="hidden" name="code" value="{esc(code)}">'
        f'<input type="hidden" name="token" value="{esc(token)}">'
    )


def _checkins(t: Translator, code: str, token: str, checkins: Sequence[OpenCheckin]) -> str:
    out: list[str] = []
    for checkin in checkins:
        if not checkin.asked:
            out.append(f"<p>{esc(t(CHECKIN_AT, when=checkin.due))} {esc(t(COME_BACK))}</p>")
            continue
        out.append(
            f'<form method="post" action="{BASE}checkin" class="checkin">'
            f"<h2>{esc(t(N_('Are you back and safe?')))}</h2>{_hidden(t, code, token)}"
            f'<input type="hidden" name="checkin" value="{checkin.id}">'
            + _button(t(N_("I am safe")), "safe", primary=True)
            + _button(t(N_("I need help")), "help")
            + "</form>"
        )
    return "".join(out)


def mailbox_page(
    t: Translator,
    *,
    code: str,
    letters: Sequence[Letter],
    token: str,
    checkins: Sequence[OpenCheckin] = (),
) -> str:
    shown = (
        "".join(
            f"<article><h2>{esc(t.datetime(letter.at))}</h2>{paragraphs(letter.text)}</article>"
            for letter in letters
        )
        or f"<p>{esc(t(NO_LETTERS))}</p>"
    )
    body = (
        f"<h1>{esc(t(MAILBOX_TITLE))} {esc(code)}</h1>"
        + _checkins(t, code, token, checkins)
        + shown
        + f'<form method="post" action="{BASE}answer">{_hidden(t, code, token)}'
        f'<label for="answer">{esc(t(ANSWER_LABEL))}</label>'
        '<textarea id="answer" name="text" rows="6" maxlength="3500" required></textarea>'
        f'<button type="submit" class="primary">{esc(t(SEND_ANSWER))}</button></form>'
        f'<form method="post" action="{BASE}forget" class="nav">{_hidden(t, code, token)}'
        f"<p>{esc(t(ERASE_HINT))}</p>" + _button(t(ERASE), "ask") + "</form>"
    )
    return layout(t, t(MAILBOX_TITLE), body, here=f"{BASE}mailbox")


def erase_page(t: Translator, *, code: str, token: str) -> str:
    """Are you sure? The same answer token carries the confirmation."""
    body = (
        f"<h1>{esc(t(ERASE))}</h1>{paragraphs(t(ERASE_QUESTION, code=code))}"
        f'<form method="post" action="{BASE}forget">{_hidden(t, code, token)}'
        + _button(t(ERASE_YES), "erase", primary=True)
        + f'</form><p><a href="{BASE}mailbox">{esc(t(ERASE_NO))}</a></p>'
    )
    return layout(t, t(ERASE), body, here=None)


STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 18px/1.5 system-ui, sans-serif; color: #111; background: #fff; }
nav { display: flex; gap: 1rem; padding: .75rem 1rem; background: #eef1f5; flex-wrap: wrap; }
nav a[aria-current] { font-weight: bold; text-decoration: none; }
main { max-width: 40rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.4rem; line-height: 1.3; }
h2 { font-size: 1.1rem; }
a { color: #0645ad; }
label { display: block; margin: 1rem 0 .25rem; font-weight: 600; }
label.check { font-weight: normal; margin: .5rem 0; }
input, textarea { width: 100%; font: inherit; padding: .6rem; border: 2px solid #555;
  border-radius: 6px; color: #111; background: #fff; }
input[type=checkbox] { width: 1.4rem; height: 1.4rem; vertical-align: middle; }
button { display: block; width: 100%; min-height: 48px; margin: .5rem 0; padding: .6rem 1rem;
  font: inherit; border-radius: 6px; border: 2px solid #1a3d7c; cursor: pointer;
  text-align: left; }
button.primary { background: #1a3d7c; color: #fff; font-weight: 600; }
button.secondary { background: #fff; color: #1a3d7c; }
button.change { display: block; width: auto; min-height: 44px; margin: .25rem 0 0;
  padding: .3rem .8rem; font-size: .9rem; background: #fff; color: #1a3d7c; }
.nav { margin-top: 1.5rem; border-top: 1px solid #ccc; padding-top: .5rem; }
.nav button { border-color: #595959; color: #333; min-height: 44px; }
:focus-visible { outline: 3px solid #b35900; outline-offset: 2px; }
.error { color: #8b0000; font-weight: 600; border-left: 4px solid #8b0000; padding-left: .5rem; }
.note { border-left: 4px solid #1a3d7c; padding-left: .5rem; }
.hint { color: #333; margin: 0 0 .25rem; }
dl dt { font-weight: 600; margin-top: 1rem; }
dl dd { margin: 0; overflow-wrap: anywhere; }
.secret strong { font-size: 1.3rem; overflow-wrap: anywhere; }
fieldset { border: 0; padding: 0; margin: 0; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
article { border-top: 1px solid #ccc; }
"""
