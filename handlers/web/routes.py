"""The web form's routes on the bot's HTTP server (README, "The web form").

  GET  /report/            the notice, the language links and the challenge
  POST /report/start       challenge answered: a draft token (cookie) and its reporter row
  GET  /report/form        the current question (or the type menu, or the review)
  POST /report/form        one answer; the engine's reply as the next page; sending makes the card
  GET  /report/mailbox     code and passphrase
  POST /report/mailbox     the team's messages, and a form to answer them
  POST /report/answer      the answer, passed on under the card
  POST /report/checkin     "I am safe" or "I need help" at a safety check-in
  POST /report/forget      erase the mailbox and the link to the report (asked, then confirmed)
  GET  /report/style.css   the only stylesheet

The report form is the chats' own driver (bot/services/form.py, `FormDriver.feed`): a post's
files and pressed button become engine inputs (the button's value is one of the form's actions,
read back by pages.posted_action and made an input by form.engine_input, as every channel's
are), the driver loads, feeds, saves, sends or cancels, and the page renders its reply. What is
the web's own stays here: the draft token, the challenge, the flood check of each post, cleaning
the files before the transaction, the passphrase and the mailbox after sending.

What identifies a reporter is never read: not the address (behind Tor it is the onion service's
own; behind a proxy, X-Forwarded-For is ignored), not the user agent. The one cookie is the draft
token, HttpOnly, SameSite=Strict, for this path only, gone after sending; the server finds the
reporter row by a keyed hash of it, like a chat id (storage/sealing.py). Paths never carry a
report's code, and the server writes no access log (bot/web.py). Every page is sent with a
strict Content-Security-Policy, no referrer and no caching.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
import secrets
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outage import is_database_outage
from bot.services.checkins import CheckinService
from bot.services.context import ServiceContext
from bot.services.flood import TOO_FAST, Admission, FloodGuard
from bot.services.form import Fed, FormDriver, engine_input
from bot.services.intake import Intake
from bot.services.media import DOWNLOAD_LIMIT, NOTICES, REFUSALS, CannotClean, examine, is_image
from bot.services.messages import Intent
from bot.services.moderation import Moderation
from bot.services.privacy import Privacy
from bot.services.receipts import receipt_text
from bot.services.session import ReporterSession
from handlers.engine import engine
from handlers.engine.forms import FORMS, StepKind
from handlers.engine.render import Translator
from handlers.engine.text import N_
from handlers.web import CHANNEL, challenge, pages, words
from handlers.web.slots import Busy, Derivations
from storage.models import Report, Reporter
from storage.repositories import Reporters, Reports
from storage.safety import FloodCounts
from storage.web import WebMailboxes, new_key, opens

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LANGUAGES = ("kk", "ru", "en")
COOKIE = "rb_draft"
# The draft token lives this long after the last answer (the draft itself 24 hours: intake).
TOKEN_TTL = dt.timedelta(hours=3)
ANSWER_TTL = dt.timedelta(minutes=30)  # answering after opening the mailbox
TEXT_FIELD_LIMIT = 16 * 1024
FILES_PER_POST = 10
FILES_TOTAL = 2 * DOWNLOAD_LIMIT  # bytes of files one post may bring
# Passphrase guesses (README, "The web form"): a hard limit per report code; for everyone
# together only a soft one, past which the login asks the start page's sum as well. A hard
# global limit would let one script keep every reporter out of their mailbox; what the host can
# bear is bounded by the derivations' slots (handlers/web/slots.py).
GUESSES_PER_CODE = 10
GUESS_WINDOW = dt.timedelta(hours=1)
GUESSES_BEFORE_CHALLENGE = 60  # a minute, everyone together

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

FAILED = N_(
    "Sorry, something went wrong and this step was not saved. Please try again in a minute."
)
EXPIRED = N_("This page has expired. Please start again.")
WRONG_CHALLENGE = N_("The answer to the check was wrong or too late. Please try again.")
WRONG_PASSPHRASE = N_("The code or the passphrase is wrong.")
TOO_MANY_GUESSES = N_("Too many attempts. Please wait a while and try again.")
CHECK_TOO = N_(
    "Many mailboxes are being opened right now. Please answer the check below as well, then "
    "press Open again."
)
ONLY_PICTURES = N_("Only photos and PDF documents can be sent here.")
EMPTY = N_("The answer is empty. Please write something.")
UNREACHABLE = N_("The team can no longer be reached about this report here.")


def accept_language(header: str) -> str | None:
    """The first of kk, ru, en in the browser's Accept-Language, by its weights."""
    best: tuple[float, str] | None = None
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        code = name.strip().lower()[:2]
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if code in LANGUAGES and (best is None or weight > best[0]):
            best = (weight, code)
    return best[1] if best else None


def _page(text: str, *, status: int = 200) -> web.Response:
    return web.Response(
        text=text, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
    )


@dataclass
class Posted:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[tuple[str | None, str | None, bytes]] = field(default_factory=list)
    too_big: bool = False

    def get(self, name: str) -> str:
        values = self.fields.get(name)
        return values[0] if values else ""


async def _read_part(part: BodyPartReader, limit: int) -> bytes | None:
    data = bytearray()
    while chunk := await part.read_chunk():
        data.extend(chunk)
        if len(data) > limit:
            return None
    return bytes(data)


async def read_form(request: web.Request) -> Posted:
    """A form post, files included, streamed with limits of its own (the app's 1 MB body limit
    is for webhooks; a phone's photo is bigger)."""
    posted = Posted()
    if not request.content_type.startswith("multipart/"):
        for name, value in (await request.post()).items():
            if isinstance(value, str):
                posted.fields.setdefault(name, []).append(value[:TEXT_FIELD_LIMIT])
        return posted
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.filename is not None:
            room = min(DOWNLOAD_LIMIT, FILES_TOTAL - sum(len(f[2]) for f in posted.files))
            data = await _read_part(part, room)
            if data is None:
                posted.too_big = True  # the rest of it is skipped unread; the person is told
            elif data and len(posted.files) < FILES_PER_POST:
                posted.files.append((part.filename, part.headers.get("Content-Type"), data))
            continue
        raw = await _read_part(part, TEXT_FIELD_LIMIT)
        if raw is not None:
            posted.fields.setdefault(part.name, []).append(raw.decode("utf-8", "replace"))
    return posted


class WebForm:
    def __init__(
        self,
        *,
        context: ServiceContext,
        sessionmaker: async_sessionmaker[AsyncSession],
        moderator_chat_id: int,
        notify: Callable[[], None],
    ) -> None:
        self.context = context
        self.sessionmaker = sessionmaker
        self.moderator_chat_id = moderator_chat_id
        self.notify = notify
        self.derivations = Derivations()

    def routes(self) -> list[web.RouteDef]:
        guarded = self._guarded
        return [
            web.get("/report", guarded(self.redirect_home)),
            web.get("/report/", guarded(self.home)),
            web.post("/report/start", guarded(self.start)),
            web.get("/report/form", guarded(self.show_form)),
            web.post("/report/form", guarded(self.post_form)),
            web.get("/report/mailbox", guarded(self.mailbox)),
            web.post("/report/mailbox", guarded(self.open_mailbox)),
            web.post("/report/answer", guarded(self.answer)),
            web.post("/report/checkin", guarded(self.checkin)),
            web.post("/report/forget", guarded(self.forget)),
            web.get("/report/style.css", guarded(self.style)),
        ]

    def _guarded(self, handler: Handler) -> Handler:
        """A failure answered with a page and logged without the request: aiohttp's own log
        line for an unhandled error names the client's address ("Error handling request from
        ..."), and an exception's message may quote what was typed."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except web.HTTPException:
                raise
            except Exception as exc:
                frames = "".join(traceback.format_tb(exc.__traceback__))
                log.error("web form: %s failed (%s)\n%s", request.path, type(exc).__name__, frames)
                t = self._t(request)
                status = 503 if is_database_outage(exc) else 500
                return _page(pages.message_page(t, t(FAILED)), status=status)

        return guarded

    # --- helpers -------------------------------------------------------------------------------
    def _t(self, request: web.Request, stored: str | None = None, posted: str = "") -> Translator:
        wanted = request.query.get("lang") or posted
        if wanted not in LANGUAGES:
            wanted = stored or accept_language(request.headers.get("Accept-Language", "")) or "ru"
        return pages.for_the_web(self.context.translator(wanted))

    def _now(self) -> dt.datetime:
        return self.context.now()

    async def _transaction(self, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with self.sessionmaker() as session:
            async with session.begin():
                result = await work(session)
            if session.info.get("outbox_enqueued"):
                self.notify()
        return result

    # --- pages ---------------------------------------------------------------------------------
    async def redirect_home(self, _request: web.Request) -> web.Response:
        raise web.HTTPFound("/report/", headers=HEADERS)

    async def style(self, _request: web.Request) -> web.Response:
        return web.Response(
            text=pages.STYLE, content_type="text/css", charset="utf-8", headers=HEADERS
        )

    async def home(
        self, request: web.Request, *, error: str | None = None, t: Translator | None = None
    ) -> web.Response:
        t = t or self._t(request)
        a, b, signed = challenge.issue(self.context.keyring, self._now())
        page = pages.start_page(t, pages.Challenge(a, b, signed), error=error)
        return _page(page)

    async def start(self, request: web.Request) -> web.Response:
        posted = await read_form(request)
        t = self._t(request, posted=posted.get("lang"))
        signed = posted.get("challenge")
        now = self._now()
        if not self._solved(signed, posted.get("answer"), now):
            return await self.home(request, error=t(WRONG_CHALLENGE), t=t)
        token = secrets.token_urlsafe(32)
        keyring = self.context.keyring

        async def begin(session: AsyncSession) -> bool:
            if not await self._use_once(FloodCounts(session), signed, now):
                return False
            reporters = Reporters(session, keyring)
            # The "chat id" of a web reporter names the channel only: the mailbox is found by
            # the reporter row (handlers/web/transport.py).
            reporter, _ = await reporters.get_or_create(CHANNEL, token, CHANNEL, now=now)
            reporter.language = t.locale
            reporter.consented_at = now
            return True

        if not await self._transaction(begin):
            return await self.home(request, error=t(WRONG_CHALLENGE), t=t)
        response = _page(pages.form_page(t, engine.AskForm()))
        _keep_token(response, token, request)
        return response

    def _solved(self, signed: str, answer: str, now: dt.datetime) -> bool:
        return challenge.check(self.context.keyring, signed, answer, now)

    async def _use_once(self, counts: FloodCounts, signed: str, now: dt.datetime) -> bool:
        """Mark a solved challenge used; False when it was used already."""
        keyring = self.context.keyring
        used = keyring.flood_mark(keyring.lookup_hash("web-challenge", challenge.nonce_of(signed)))
        if await counts.marks_since(used, now - challenge.MAX_AGE - challenge.MIN_WAIT):
            return False
        await counts.add_mark(used, now)
        return True

    async def _reporter(self, session: AsyncSession, request: web.Request) -> Reporter | None:
        token = request.cookies.get(COOKIE, "")
        if not token or len(token) > 64:
            return None
        reporter = await Reporters(session, self.context.keyring).find(CHANNEL, token)
        if reporter is None or reporter.erased_at is not None:
            return None
        if reporter.last_seen < self._now() - TOKEN_TTL:
            return None
        return reporter

    def _expired(self, request: web.Request) -> web.Response:
        t = self._t(request)
        response = _page(pages.message_page(t, t(EXPIRED)), status=410)
        response.del_cookie(COOKIE, path="/report/")
        return response

    def _form(self, session: AsyncSession, reporter: Reporter, t: Translator) -> FormDriver:
        """The report form's driver, the chats' own (bot/services/form.py): it loads and stores
        the draft, feeds the engine and sends; the pages render what it returns."""
        moderation = Moderation(session, self.context, moderator_chat_id=self.moderator_chat_id)
        privacy = Privacy(session, self.context)
        intake = Intake(session, self.context)
        return FormDriver(ReporterSession(intake, moderation, privacy, reporter, t), CHANNEL)

    async def show_form(self, request: web.Request) -> web.Response:
        async def show(session: AsyncSession) -> str | None:
            reporter = await self._reporter(session, request)
            if reporter is None:
                return None
            t = self._t(request, reporter.language)
            reporter.language = t.locale
            result = await self._form(session, reporter, t).current()
            return pages.form_page(t, result.reply)

        page = await self._transaction(show)
        return self._expired(request) if page is None else _page(page)

    async def post_form(self, request: web.Request) -> web.Response:
        posted = await read_form(request)
        action = posted.get("do")
        notes: list[str] = []
        cleaned: list[tuple[str, Any]] = []  # (kind, CleanImage) or ("refused", msgid)
        # Files are decoded and cleaned before the transaction (README, Reporter safety).
        if posted.too_big:
            cleaned.append(("refused", REFUSALS["too_big"]))
        for name, mime, data in posted.files:
            try:
                examined = await asyncio.to_thread(
                    examine, data, claims_picture=is_image("document", mime, name)
                )
            except CannotClean as refused:
                cleaned.append(("refused", REFUSALS.get(refused.reason, REFUSALS["unreadable"])))
                continue
            if examined.clean is None:
                cleaned.append(("refused", ONLY_PICTURES))
                continue
            kind = "document" if examined.clean.mime == "application/pdf" else "photo"
            cleaned.append((kind, examined.clean))
            if examined.notice:
                notes.append(NOTICES[examined.notice])
        secret: tuple[str, bytes, bytes] | None = None
        if action == "submit":
            # Derived before the transaction: argon2id takes a moment and memory on purpose. The
            # press is counted against the token's rate first, so a post without a live token,
            # or past its rate, derives nothing (handlers/web/slots.py).
            stopped: web.Response | None = await self._transaction(
                lambda session: self._admit(session, request)
            )
            if stopped is not None:
                return stopped
            language = self._t(request, posted=posted.get("lang")).locale
            phrase = words.passphrase(language)
            try:
                salt, public = await self.derivations.run(new_key, phrase)
            except Busy:
                return self._busy(request, here="/report/form")
            secret = (phrase, salt, public)

        async def apply(session: AsyncSession) -> web.Response | None:
            reporter = await self._reporter(session, request)
            if reporter is None:
                return None
            t = self._t(request, reporter.language)
            reporter.language = t.locale  # the language the report is sent in
            reporter.last_seen = self._now()  # the token lives TOKEN_TTL after the last answer
            form = self._form(session, reporter, t)
            counted = secret is not None  # a send was counted by _admit
            if not counted and await form.intake.flood.admit_update(reporter) is not Admission.OK:
                return _too_fast(t)
            loaded = await form.load()  # read once for the checks below and the engine
            if (stale := _stale(form, loaded[0], action, posted)) is not None:
                return stale
            files, said = await _files(form, cleaned, notes)
            inputs = [*files, *_inputs(loaded[0], action, posted)] or [engine.Show()]
            fed = await form.feed(inputs, loaded=loaded)
            return await self._reply(session, form, fed, said, secret)

        response: web.Response | None = await self._transaction(apply)
        if response is None:
            return self._expired(request)
        if COOKIE not in response.cookies:  # still writing: the token's time starts again
            _keep_token(response, request.cookies[COOKIE], request)
        return response

    async def _admit(self, session: AsyncSession, request: web.Request) -> web.Response | None:
        """Before a send's derivation: None when the token is live and within its rate (the
        press is counted), else the page to answer with."""
        reporter = await self._reporter(session, request)
        if reporter is None:
            return self._expired(request)
        reporter.last_seen = self._now()
        if await FloodGuard(session, self.context).admit_update(reporter) is not Admission.OK:
            return _too_fast(self._t(request, reporter.language))
        return None

    def _busy(self, request: web.Request, *, here: str) -> web.Response:
        t = self._t(request)
        return _page(pages.message_page(t, t(FAILED), here=here), status=503)

    async def _reply(
        self,
        session: AsyncSession,
        form: FormDriver,
        fed: Fed,
        said: list[str],
        secret: tuple[str, bytes, bytes] | None,
    ) -> web.Response:
        """The page for what the inputs fed through the form driver did."""
        t = form.t
        if isinstance(fed.result.reply, engine.Cancelled):
            return _page(pages.form_page(t, engine.AskForm(), notes=[*said, t(pages.CANCELLED)]))
        if fed.refused is not None:
            # Nothing was stored and the draft is as it was: Send works again later.
            shown = form.shown(fed.before).reply
            return _page(pages.form_page(t, shown, notes=[t.msg(fed.refused)]))
        if fed.report is None:
            return _page(pages.form_page(t, fed.result.reply, notes=said))
        return await self._sent(session, form, fed.report, secret)

    async def _sent(
        self,
        session: AsyncSession,
        form: FormDriver,
        report: Report,
        secret: tuple[str, bytes, bytes] | None,
    ) -> web.Response:
        """The report was sent: its mailbox, if the team may answer here, and the receipt."""
        t, reporter = form.t, form.session.reporter
        phrase: str | None = None
        if secret is not None and report.contact == "chat":
            phrase, salt, public = secret
            await WebMailboxes(session, self.context.keyring).create(
                report_id=report.id,
                reporter_id=reporter.id,
                salt=salt,
                public_key=public,
                now=self._now(),
            )
        # The draft token no longer finds the reporter: only code and passphrase lead back.
        reporter.external_hash = self.context.keyring.lookup_hash(
            CHANNEL, secrets.token_urlsafe(32)
        )
        checkins = await WebMailboxes(session, self.context.keyring).checkins(report.id)
        receipt = receipt_text(
            t,
            code=report.public_code,
            form=report.incident_type,
            urgent=report.urgent,
            contact=report.contact,
            checkin_at=checkins[0].due_at if checkins else None,
            help_contacts=self.context.help_contacts,
        )
        page = pages.sent_page(
            t,
            code=report.public_code,
            receipt=receipt,
            passphrase=phrase,
            checkin=bool(checkins) and phrase is not None,
        )
        response = _page(page)
        response.del_cookie(COOKIE, path="/report/")
        return response

    # --- the mailbox ---------------------------------------------------------------------------
    async def mailbox(self, request: web.Request) -> web.Response:
        return _page(pages.login_page(self._t(request)))

    async def open_mailbox(self, request: web.Request) -> web.Response:
        posted = await read_form(request)
        t = self._t(request, posted=posted.get("lang"))
        code = posted.get("code").strip().upper()[:16]
        phrase = posted.get("passphrase")[:400]
        keyring = self.context.keyring
        now = self._now()

        signed, answer = posted.get("challenge"), posted.get("answer")

        async def look_up(session: AsyncSession) -> tuple[str, Any] | None:
            counts = FloodCounts(session)
            everyone = keyring.flood_mark("web-guess")
            this_code = keyring.flood_mark(keyring.lookup_hash("web-guess", code))
            busy = (
                await counts.marks_since(everyone, now - dt.timedelta(minutes=1))
                >= GUESSES_BEFORE_CHALLENGE
            )
            # Busy: only an attempt with the sum solved (once) is a guess; else it is asked.
            if busy and not (
                self._solved(signed, answer, now) and await self._use_once(counts, signed, now)
            ):
                return ("check", bool(signed))
            if await counts.marks_since(this_code, now - GUESS_WINDOW) >= GUESSES_PER_CODE:
                return ("limit", None)
            await counts.add_mark(everyone, now)
            await counts.add_mark(this_code, now)
            report = await Reports(session, keyring).by_code(code) if code else None
            mailbox = await WebMailboxes(session, keyring).of_report(report.id) if report else None
            return ("found", mailbox)

        found = await self._transaction(look_up)
        if found[0] == "check":
            a, b, fresh = challenge.issue(keyring, now)
            page = pages.login_page(
                t,
                error=t(WRONG_CHALLENGE if found[1] else CHECK_TOO),
                challenge=pages.Challenge(a, b, fresh),
                code=code,
            )
            return _page(page, status=429)
        if found[0] == "limit":
            return _page(pages.login_page(t, error=t(TOO_MANY_GUESSES)), status=429)
        mailbox = found[1]
        if mailbox is None:
            # The same work as a real check: the time taken does not tell whether a code exists.
            try:
                await self.derivations.run(new_key, phrase)
            except Busy:
                return self._busy(request, here="/report/mailbox")
            return _page(pages.login_page(t, error=t(WRONG_PASSPHRASE)), status=403)
        try:
            key = await self.derivations.run(opens, mailbox, phrase)
        except Busy:
            return self._busy(request, here="/report/mailbox")
        if key is None:
            return _page(pages.login_page(t, error=t(WRONG_PASSPHRASE)), status=403)
        token = secrets.token_urlsafe(24)

        async def read(session: AsyncSession) -> str:
            mailboxes = WebMailboxes(session, keyring)
            box = await mailboxes.of_report(mailbox.report_id)
            assert box is not None
            # Coming back is the reporter's activity: retention counts from it, as from a chat
            # message (bot/jobs/sweeper.py).
            reporter = await Reporters(session, keyring).get(box.reporter_id or 0)
            if reporter is not None and reporter.erased_at is None:
                reporter.last_seen = now
            mailboxes.allow_answer(box, token, now + ANSWER_TTL)
            letters = await mailboxes.letters(box, key)
            checkins = [
                pages.OpenCheckin(row.id, row.asked_at is not None, t.datetime(row.due_at))
                for row in await mailboxes.checkins(box.report_id)
            ]
            return pages.mailbox_page(t, code=code, letters=letters, token=token, checkins=checkins)

        return _page(await self._transaction(read))

    async def _answering(
        self, session: AsyncSession, posted: Posted, t: Translator
    ) -> tuple[Report, Reporter] | str:
        """The report and reporter a mailbox post speaks for, once its answer token is checked;
        else what to say."""
        keyring = self.context.keyring
        code = posted.get("code").strip().upper()[:16]
        report = await Reports(session, keyring).by_code(code) if code else None
        mailboxes = WebMailboxes(session, keyring)
        mailbox = await mailboxes.of_report(report.id) if report else None
        if (
            report is None
            or mailbox is None
            or not mailboxes.may_answer(mailbox, posted.get("token"), self._now())
        ):
            return t(EXPIRED)
        reporter = await Reporters(session, keyring).get(mailbox.reporter_id or 0)
        if reporter is None or reporter.external_enc is None:
            return t(UNREACHABLE)
        if await FloodGuard(session, self.context).admit_update(reporter) is not Admission.OK:
            return t.msg(TOO_FAST)
        return report, reporter

    async def answer(self, request: web.Request) -> web.Response:
        posted = await read_form(request)
        t = self._t(request, posted=posted.get("lang"))
        text = posted.get("text").strip()[:3500]

        async def pass_on(session: AsyncSession) -> str:
            if not text:
                return t(EMPTY)
            found = await self._answering(session, posted, t)
            if isinstance(found, str):
                return found
            report, reporter = found
            # Written with no team question open: an addition, as the chat's follow-ups say.
            asked = (
                reporter.answering_report_id == report.id
                and reporter.answering_until is not None
                and reporter.answering_until > self._now()
            )
            moderation = Moderation(session, self.context, moderator_chat_id=self.moderator_chat_id)
            await moderation.forward_answer(
                reporter,
                report,
                {"type": "text", "html": html.escape(text, quote=False)},
                addition=not asked,
            )
            return t(pages.ANSWER_SENT)

        said = await self._transaction(pass_on)
        return _page(pages.message_page(t, said, here="/report/mailbox"))

    async def checkin(self, request: web.Request) -> web.Response:
        """ "I am safe" or "I need help" from the mailbox: the same answer as the chat's buttons
        (bot/services/checkins.py)."""
        posted = await read_form(request)
        t = self._t(request, posted=posted.get("lang"))
        number = posted.get("checkin")
        checkin_id = int(number) if number.isdecimal() and len(number) <= 9 else 0

        async def answer(session: AsyncSession) -> str:
            found = await self._answering(session, posted, t)
            if isinstance(found, str):
                return found
            _, reporter = found
            checkins = CheckinService(session, self.context)
            return t.msg(await checkins.answer(reporter, checkin_id, posted.get("do")))

        said = await self._transaction(answer)
        return _page(pages.message_page(t, said, here="/report/mailbox"))

    async def forget(self, request: web.Request) -> web.Response:
        """The web's /forget: the same erasure (bot/services/privacy.py), which takes the
        mailbox and its messages with the link (storage/safety.py). The first press asks; the
        confirmation carries the same answer token."""
        posted = await read_form(request)
        t = self._t(request, posted=posted.get("lang"))
        confirmed = posted.get("do") == "erase"

        async def erase(session: AsyncSession) -> str:
            found = await self._answering(session, posted, t)
            if isinstance(found, str):
                return pages.message_page(t, found, here="/report/mailbox")
            report, reporter = found
            if not confirmed:
                return pages.erase_page(t, code=report.public_code, token=posted.get("token"))
            await Privacy(session, self.context).forget(reporter)
            return pages.message_page(t, t(pages.ERASED))

        return _page(await self._transaction(erase))


def _too_fast(t: Translator) -> web.Response:
    return _page(pages.message_page(t, t.msg(TOO_FAST), here="/report/form"), status=429)


def _keep_token(response: web.Response, token: str, request: web.Request) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(TOKEN_TTL.total_seconds()),
        path="/report/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


def _stale(
    form: FormDriver, draft: engine.Draft | None, action: str, posted: Posted
) -> web.Response | None:
    """The current page with a note, where a typed answer or a file was posted from a page of
    another step than the draft's (an older page in another tab, or the browser's Back): it
    would answer whatever is asked now, a name in a date. Nothing is stored. A button names its
    step in its action (pages.action_value), and the engine checks that itself."""
    if not (_typed(action, posted) or posted.files or posted.too_big):
        return None
    shown = form.shown(draft).reply
    if posted.get("step") == pages.page_step(shown):
        return None
    return _page(pages.form_page(form.t, shown, notes=[form.t(pages.STALE)]))


async def _files(
    form: FormDriver, cleaned: list[tuple[str, Any]], notes: list[str]
) -> tuple[list[engine.Input], list[str]]:
    """The cleaned files as the engine's inputs, each stored for the draft, and what is said of
    them: the notices of their cleaning and the refusals."""
    t = form.t
    inputs: list[engine.Input] = []
    said = [t(note) for note in notes]
    for kind, item in cleaned:
        if kind == "refused":
            said.append(t(item))
        else:
            ref = await form.intake.store_attachment(form.session.reporter, item)
            inputs.append(engine.Media(kind, ref, None, item.mime))
    return inputs, said


def _typed(action: str, posted: Posted) -> bool:
    """Whether the post is a typed answer: its own button, or Enter in the text field."""
    return action == pages.TEXT or (not action and bool(posted.get("text")))


def _inputs(draft: engine.Draft | None, action: str, posted: Posted) -> list[engine.Input]:
    """The engine's inputs for one press of a button on a page: the typed answer, or one of the
    form's actions (pages.posted_action) made an input as every channel's is
    (bot/services/form.py, `engine_input`); a multi-choice question's ticked boxes are the
    taps before its Done."""
    if _typed(action, posted):
        return [engine.Text(posted.get("text"))]
    pressed = pages.posted_action(action)
    if pressed is None:
        return []  # "upload", or nothing pressed: the files alone, or the page again
    intent, args = pressed
    taps: list[engine.Input] = []
    if intent is Intent.DONE:
        taps = _taps(posted, draft, args[0])
    return [*taps, engine_input(intent, args)]


def _taps(posted: Posted, draft: engine.Draft | None, step: str) -> list[engine.Input]:
    """Checkboxes as the engine's taps: each option whose state changed (none where the step is
    not the draft's multi-choice question)."""
    form = FORMS.get(draft.form) if draft is not None and draft.form else None
    current = form.step(step) if form is not None and step else None
    if draft is None or current is None or current.kind != StepKind.MULTI:
        return []
    assert current.vocabulary is not None
    had = set(draft.answers.get(current.key) or [])
    wanted = set(posted.fields.get("option", []))
    return [
        engine.Pick(key, step=step)
        for key in current.vocabulary.option_keys()
        if (key in had) != (key in wanted)
    ]


def web_form_routes(app: App) -> list[web.RouteDef]:
    """The routes bot/app.py mounts when WEB_FORM is on."""
    assert app.settings.moderator_chat_id is not None
    form = WebForm(
        context=app.context,
        sessionmaker=app.sessionmaker,
        moderator_chat_id=app.settings.moderator_chat_id,
        notify=app.worker.notify,
    )
    return form.routes()
