"""Moderation: triage actions on cards, questions to reporters and their answers, the audit.

Every action is re-authorised from the acting user's id; a button only names a report and an
action. Refusals change nothing and are written to the audit trail.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from html import unescape
from typing import Any

from aiogram import html
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import messages as neutral
from bot.services.access import CAN_MANAGE_STAFF, CAN_TRIAGE, role_for
from bot.services.card_model import (
    ACTION_LABELS,
    CONFIRMED,
    KEEP,
    REJECTIONS,
    STATUS,
    STATUS_LABELS,
    CardEvent,
    card_code,
    event_line,
)
from bot.services.cards import CardService
from bot.services.context import Actor, Outcome, ServiceContext
from bot.services.flood import WEB
from bot.services.reach import MESSENGER, Window, messaging_window, reachable_until
from bot.services.splitting import TEXT_LIMIT, split_text, utf16_len
from handlers.engine.text import N_, NP_, Msg
from storage.models import Outbox, OutboxPriority, Report, Reporter, ReportStatus, StaffRole
from storage.repositories import (
    ModerationEvents,
    OutboxRepository,
    Reporters,
    Reports,
    StaffRepository,
)

log = logging.getLogger(__name__)

S = ReportStatus
OPEN = frozenset({S.NEW, S.IN_REVIEW, S.NEEDS_INFO})
SETTLED = frozenset({S.VERIFIED, S.DUPLICATE, S.REJECTED})
# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "take": (OPEN, S.IN_REVIEW),
    "verify": (frozenset({S.IN_REVIEW, S.NEEDS_INFO}), S.VERIFIED),
    "needs_info": (frozenset({S.IN_REVIEW}), S.NEEDS_INFO),
    "dupof": (OPEN, S.DUPLICATE),
    "reject_spam": (OPEN, S.REJECTED),
    "reject_unfounded": (OPEN, S.REJECTED),
    "reject_scope": (OPEN, S.REJECTED),
    "close": (SETTLED | {S.NEEDS_INFO}, S.CLOSED),
    "reopen": (SETTLED | {S.CLOSED}, S.IN_REVIEW),
}
NOT_CLOSED = frozenset(set(S) - {S.CLOSED})
# How long a reporter's next message outside a draft counts as the answer to a team question.
ANSWER_WINDOW = dt.timedelta(days=7)

MemberCheck = Callable[[int], Awaitable[bool]]

WEB_FOOTER = N_("Answer in the box below. Do not send anything that could put you at risk.")
WEB_ASKED = N_(
    "Put in the web mailbox of the reporter of {code}, signed by the team. There is no chat to "
    "reach them in: they read it only when they come back to the web form with their code and "
    "passphrase."
)


def _refusal(text: str, **params: Any) -> Outcome:
    return Outcome(False, Msg(text, params))


class Moderation:
    def __init__(
        self,
        session: AsyncSession,
        context: ServiceContext,
        *,
        moderator_chat_id: int,
        member_check: MemberCheck | None = None,
    ) -> None:
        self.session = session
        self.context = context
        self.moderator_chat_id = moderator_chat_id
        self.member_check = member_check
        self.reports = Reports(session, context.keyring)
        self.reporters = Reporters(session, context.keyring)
        self.events = ModerationEvents(session)
        self.outbox = OutboxRepository(session, context.keyring)
        self.cards = CardService(session, context)
        self.staff = StaffRepository(session)

    # --- who may act -------------------------------------------------------------------------
    async def role(self, actor: Actor) -> StaffRole | None:
        role = await role_for(self.session, actor.user_id, self.context.admin_ids)
        if (
            role is None
            and self.member_check is not None
            and await self.member_check(actor.user_id)
        ):
            return StaffRole.MODERATOR
        return role

    async def refuse(self, actor: Actor, report_id: int | None, reason: str) -> None:
        """Write a refused attempt to the audit trail: who, which report, why. No content."""
        log.warning("refused %s by user %s on report %s", reason, actor.user_id, report_id)
        if report_id is not None and await self.reports.get(report_id) is None:
            report_id = None  # forged button data naming no report: audited without a link
        await self.events.add(
            report_id=report_id,
            actor=actor.user_id,
            actor_name=actor.name,
            action="refused",
            note=reason,
            at=self.context.now(),
        )

    async def _authorised(
        self, actor: Actor, chat_id: int, report_id: int | None, allowed: frozenset[StaffRole]
    ) -> Outcome | None:
        if chat_id != self.moderator_chat_id:
            await self.refuse(actor, report_id, "outside_moderator_chat")
            return _refusal(N_("This works only in the moderators' chat."))
        role = await self.role(actor)
        if role is None or role not in allowed:
            await self.refuse(actor, report_id, "not_staff" if role is None else "role")
            return _refusal(N_("Sorry, you are not allowed to do this."))
        return None

    # --- card buttons ------------------------------------------------------------------------
    async def press(
        self,
        actor: Actor,
        *,
        chat_id: int,
        message_id: int,
        message_text: str,
        action: str,
        report_id: int,
        other: int = 0,
    ) -> Outcome:
        """A card's button (card_model.card_actions): `action` on the report `report_id`
        (`other`: the suggested original of "duplicate of"), as the pressed button says."""
        refused = await self._authorised(actor, chat_id, report_id, CAN_TRIAGE)
        if refused is not None:
            return refused
        report = await self.reports.get(report_id)
        alert = await self.outbox.alert_of(report_id) if report is not None else None
        if (
            report is None
            or alert is None
            or not _is_card_of(alert, report, message_id, message_text)
        ):
            # The button does not belong to this report's card: tampered or replayed data.
            await self.refuse(actor, report_id if report else None, "forged")
            return _refusal(N_("This button is not valid."))
        if action in ("urgent", "not_urgent"):
            return await self._set_urgent(actor, report, urgent=action == "urgent")
        if action == "ask":
            return await self._prompt(actor, report, "ask_prompt")
        if action == "duplicate":
            return await self._prompt(actor, report, "dup_prompt")
        if (
            action == "needs_info"
            and report.contact == "chat"
            and report.status in TRANSITIONS["needs_info"][0]
        ):
            # "Needs info" carries the moderator's question: the status changes once it is
            # written (reply_in_chat), so the reporter is never told "more is needed" alone.
            return await self._prompt(actor, report, "needs_info_prompt")
        if action in REJECTIONS:
            return await self._confirm_rejection(actor, report, action)
        if action == KEEP:
            await self.cards.refresh(report)
            return Outcome(True, Msg(N_("Nothing was changed.")))
        if action == STATUS:
            return await self._last_change(report)
        rejection = action.removesuffix(CONFIRMED)
        if action.endswith(CONFIRMED) and rejection in REJECTIONS:
            return await self._transition(actor, report, rejection)
        if action not in TRANSITIONS:
            await self.refuse(actor, report.id, "forged")
            return _refusal(N_("This button is not valid."))
        original: Report | None = None
        if action == "dupof":
            original = await self.reports.get(other)
            if original is None or original.id == report.id:
                await self.refuse(actor, report.id, "forged")
                return _refusal(N_("This button is not valid."))
        return await self._transition(actor, report, action, original=original)

    async def _last_change(self, report: Report) -> Outcome:
        """The status button: who last acted on the report, and when (the card's text is never
        rewritten, so this is where it is told)."""
        events = await self.events.acted(report.id)
        if not events:
            return await self._with_reach(
                report,
                N_("No one has acted on {code} yet. {reach}"),
                N_("No one has acted on {code} yet."),
                code=report.public_code,
            )
        latest = events[-1]
        t = self.context.moderators_t
        reach = await self._reach(report)
        if reach is None:
            line = event_line(CardEvent(latest.action, latest.actor_name, latest.at), t)
            return Outcome(
                True,
                Msg(
                    N_("Last: {event}. /history {code} shows all."),
                    {"event": line, "code": report.public_code},
                ),
            )
        # Telegram shows at most 200 characters in a press's answer: a long name gives way,
        # then who acted last (the reach is what cannot be read anywhere else).
        for name in (latest.actor_name, (latest.actor_name or "")[:12] + "…"):
            line = event_line(CardEvent(latest.action, name, latest.at), t)
            answer = Msg(N_("Last: {event}. {reach}"), {"event": line, "reach": t.msg(reach)})
            if len(t.msg(answer)) <= PRESS_ANSWER_LIMIT:
                return Outcome(True, answer)
        return Outcome(True, reach)

    async def _with_reach(
        self, report: Report, with_reach: str, without: str, **params: Any
    ) -> Outcome:
        """A confirmation to the team, ending with until when the reporter can be written to
        where that is limited (`with_reach` has a {reach} for it), else `without`."""
        reach = await self._reach(report)
        if reach is None:
            return Outcome(True, Msg(without, params))
        return Outcome(
            True, Msg(with_reach, {**params, "reach": self.context.moderators_t.msg(reach)})
        )

    async def _reach(self, report: Report) -> Msg | None:
        """Until when the team can write to a Messenger reporter, worked out now from their
        last message (bot/services/reach.py): a date written on the card would go stale
        as the reporter writes again, so it is said when a moderator presses the status button
        or asks a question. None when the reporter is not on Messenger or cannot be written to
        at all."""
        if report.contact != "chat" or report.reporter_id is None or report.status == S.CLOSED:
            return None
        reporter = await self.reporters.get(report.reporter_id)
        if reporter is None or reporter.external_enc is None or reporter.channel != MESSENGER:
            return None
        t = self.context.moderators_t
        human_agent = self.context.messenger_human_agent
        now = self.context.now()
        until = t.datetime(reachable_until(reporter.last_seen, human_agent=False))
        human = t.datetime(reachable_until(reporter.last_seen, human_agent=human_agent))
        window = messaging_window(reporter.last_seen, now, human_agent=human_agent)
        if window == Window.CLOSED:
            return Msg(REACH_CLOSED, {"since": human})
        if window == Window.HUMAN_AGENT:
            return Msg(REACH_QUESTIONS_ONLY, {"human": human})
        if human_agent:
            return Msg(REACH_QUESTIONS_LONGER, {"until": until, "human": human})
        return Msg(REACH_OPEN, {"until": until})

    async def _confirm_rejection(self, actor: Actor, report: Report, action: str) -> Outcome:
        """Ask on the card itself before rejecting: a rejection is one mis-tap away from Take."""
        if report.status not in TRANSITIONS[action][0]:
            return await self._transition(actor, report, action)  # refused and audited
        await self.cards.refresh(report, confirming=action)
        return Outcome(True, Msg(_CONFIRM_QUESTIONS[action]))

    async def _transition(
        self, actor: Actor, report: Report, action: str, *, original: Report | None = None
    ) -> Outcome:
        allowed_from, to_status = TRANSITIONS[action]
        if report.status not in allowed_from:
            await self.refuse(actor, report.id, f"transition:{report.status}:{action}")
            return _refusal(
                N_("Not possible: the report is {status}."),
                status=self.context.moderators_t(STATUS_LABELS.get(report.status, report.status)),
            )
        report.status = to_status
        report.updated_at = self.context.now()
        if action == "take":
            report.assigned_to = actor.user_id
        if original is not None:
            report.duplicate_of_id = original.id
        if action == "reopen":
            report.duplicate_of_id = None
        await self._record(actor, report, "duplicate" if action == "dupof" else action)
        await self._tell_reporter_status(report)
        return Outcome(True, Msg(_DONE[action]))

    async def _tell_reporter_status(self, report: Report) -> None:
        """A short status message to the reporter, when they allowed contact in this chat.

        Only verified, needs information and closed are told. A duplicate or a rejection is not:
        "duplicate" would tell the reporter that someone else reported the same person.
        """
        notice = STATUS_NOTICES.get(report.status)
        if notice is None or report.contact != "chat" or report.reporter_id is None:
            return
        reporter = await self.reporters.get(report.reporter_id)
        if reporter is None or reporter.external_enc is None:
            return
        t = self.context.translator(reporter.language or report.language)
        version = len(await self.events.of_report(report.id))
        await self.outbox.enqueue(
            kind="status",
            target="reporter",
            payload=neutral.payload(
                [neutral.text(neutral.plain(t(notice, code=report.public_code)))]
            ),
            idempotency_key=f"status:{report.id}:{report.status}:{version}",
            report_id=report.id,
            reporter_id=reporter.id,
        )

    async def _set_urgent(self, actor: Actor, report: Report, *, urgent: bool) -> Outcome:
        if report.status not in NOT_CLOSED:
            await self.refuse(actor, report.id, "transition:closed:urgent")
            return _refusal(
                N_("Not possible: the report is {status}."),
                status=self.context.moderators_t(STATUS_LABELS[S.CLOSED]),
            )
        report.urgent = urgent
        await self._record(actor, report, "urgent" if urgent else "not_urgent")
        return Outcome(True, Msg(N_("Marked urgent.") if urgent else N_("Marked not urgent.")))

    async def _record(self, actor: Actor, report: Report, action: str) -> None:
        await self.events.add(
            report_id=report.id,
            actor=actor.user_id,
            actor_name=actor.name,
            action=action,
            at=self.context.now(),
        )
        await self.session.flush()
        await self.cards.refresh(report)

    async def _prompt(self, actor: Actor, report: Report, kind: str) -> Outcome:
        """Ask the moderator to reply with a question, or with the original's code."""
        alert = await self.outbox.alert_of(report.id)
        t = self.context.moderators_t
        if kind == "ask_prompt":
            text = t(
                N_("Reply to this message with your question for the reporter of {code}."),
                code=report.public_code,
            )
        elif kind == "needs_info_prompt":
            text = t(
                N_(
                    "What does the team need to know? Reply to this message with your question "
                    "for the reporter of {code}; it is marked as needing information once sent."
                ),
                code=report.public_code,
            )
        else:
            text = t(
                N_("Reply to this message with the code of the report that {code} duplicates."),
                code=report.public_code,
            )
        version = len(await self.events.of_report(report.id))
        await self.outbox.enqueue(
            kind=kind,
            target="moderators",
            payload={
                "messages": [
                    {
                        "type": "text",
                        "html": html.quote(text),
                        "force_reply": True,
                        "reply_to_message_id": alert.sent_message_id if alert else None,
                    }
                ]
            },
            idempotency_key=f"{kind}:{report.id}:{actor.user_id}:{version}:{self.context.now().timestamp()}",
            report_id=report.id,
            priority=OutboxPriority.URGENT,
        )
        return Outcome(True, Msg(N_("Reply to the message below.")))

    # --- replies in the moderator chat ---------------------------------------------------------
    async def reply_in_chat(
        self,
        actor: Actor,
        *,
        chat_id: int,
        replied_message_id: int,
        replied_text: str,
        text: str,
    ) -> Outcome | None:
        """A moderator replied to one of the bot's messages; None when it is not ours to handle."""
        found = await self.outbox.report_for_message("moderators", replied_message_id)
        if found is None:
            found = await self._card_just_sent(replied_message_id, replied_text)
        if found is None:
            return None
        report_id, kind = found
        refused = await self._authorised(actor, chat_id, report_id, CAN_TRIAGE)
        if refused is not None:
            return refused
        report = await self.reports.get(report_id)
        if report is None:
            return None
        if kind == "dup_prompt":
            original = await self.reports.by_code(text)
            if original is None or original.id == report.id:
                return _refusal(N_("No other report has the code {code}."), code=text.strip()[:16])
            return await self._transition(actor, report, "dupof", original=original)
        if kind == "needs_info_prompt":
            return await self._needs_info(actor, report, text)
        return await self.ask_reporter(actor, report, text)

    async def _needs_info(self, actor: Actor, report: Report, question: str) -> Outcome:
        """Send the moderator's question, then mark the report as needing information."""
        if report.status not in TRANSITIONS["needs_info"][0]:
            return await self._transition(actor, report, "needs_info")  # refused and audited
        asked = await self.ask_reporter(actor, report, question)
        if not asked.ok:
            return asked
        await self._transition(actor, report, "needs_info")
        return await self._with_reach(
            report,
            N_("Sent to the reporter of {code}; marked as needing information. {reach}"),
            N_("Sent to the reporter of {code}; marked as needing information."),
            code=report.public_code,
        )

    async def _card_just_sent(self, message_id: int, text: str) -> tuple[int, str] | None:
        """A card whose message id is not recorded yet, recognised by the code on its first
        line (`text` is empty unless the replied message is the bot's, with card buttons)."""
        code = card_code(text)
        report = await self.reports.by_code(code) if code else None
        if report is None:
            return None
        alert = await self.outbox.alert_of(report.id)
        if alert is not None and _is_card_of(alert, report, message_id, text):
            return report.id, "alert"
        return None

    async def ask_reporter(self, actor: Actor, report: Report, text: str) -> Outcome:
        if report.contact == "none":
            await self.refuse(actor, report.id, "contact_declined")
            return _refusal(N_("The reporter asked not to be contacted."))
        if report.contact == "other":
            return _refusal(
                N_(
                    "The reporter asked to be contacted another way: "
                    "see the contact details on the card."
                )
            )
        reporter = await self.reporters.get(report.reporter_id) if report.reporter_id else None
        if reporter is None or reporter.external_enc is None or report.status == S.CLOSED:
            await self.refuse(actor, report.id, "reporter_unreachable")
            return _refusal(N_("The reporter can no longer be reached."))
        until: dt.datetime | None = None
        if reporter.channel == MESSENGER:
            window = messaging_window(
                reporter.last_seen,
                self.context.now(),
                human_agent=self.context.messenger_human_agent,
            )
            if window == Window.CLOSED:
                await self.refuse(actor, report.id, "messenger_window_closed")
                return _refusal(
                    _WINDOW_CLOSED[self.context.messenger_human_agent],
                    code=report.public_code,
                    when=self.context.moderators_t.datetime(reporter.last_seen),
                )
            until = reachable_until(
                reporter.last_seen, human_agent=self.context.messenger_human_agent
            )
        t = self.context.translator(reporter.language or report.language)
        header = t(
            N_("A message from the human-rights team about your report {code}:"),
            code=report.public_code,
        )
        footer = t(
            N_("Reply to this message to answer. Do not send anything that could put you at risk.")
        )
        if reporter.channel == WEB:  # read in the mailbox page, above its answer box
            footer = t(WEB_FOOTER)
        # Header and footer around a long question still within Telegram's 4,096 characters:
        # the question goes in as many messages as it needs (bot/services/splitting.py).
        room = TEXT_LIMIT - utf16_len(header) - utf16_len(footer) - 4
        bodies: list[list[neutral.Paragraph]] = [
            [[neutral.plain(piece)]] for piece in split_text(text, room)
        ]
        bodies[0].insert(0, [neutral.bold(header)])
        bodies[-1].append([neutral.italic(footer)])
        now = self.context.now()
        version = len(await self.events.of_report(report.id))
        await self.outbox.enqueue(
            kind="question",
            target="reporter",
            payload=neutral.payload(
                [neutral.text(*body) for body in bodies],
                # A team member's answer: on Messenger its tag is decided when it is sent
                # (handlers/messenger/delivery.py, MessengerDelivery.tag_for).
                human_reply=True,
            ),
            idempotency_key=f"question:{report.id}:{version}:{now.timestamp()}",
            report_id=report.id,
            reporter_id=reporter.id,
            priority=OutboxPriority.URGENT,
        )
        reporter.answering_report_id = report.id
        reporter.answering_until = now + ANSWER_WINDOW
        await self.events.add(
            report_id=report.id, actor=actor.user_id, actor_name=actor.name, action="ask", at=now
        )
        if until is not None:
            return Outcome(
                True,
                Msg(
                    N_(
                        "Sent to the reporter of {code}, signed by the team. Facebook Messenger "
                        "lets the team write to them until {until}, unless they write again."
                    ),
                    {
                        "code": report.public_code,
                        "until": self.context.moderators_t.datetime(until),
                    },
                ),
            )
        if reporter.channel == WEB:
            # No chat to reach them in: the question waits in the web form's mailbox.
            return Outcome(True, Msg(WEB_ASKED, {"code": report.public_code}))
        return Outcome(
            True,
            Msg(
                N_("Sent to the reporter of {code}, signed by the team."),
                {"code": report.public_code},
            ),
        )

    # --- the reporter's answers ----------------------------------------------------------------
    async def answered_report(
        self, reporter: Reporter, *, replied_message_id: int | None, has_draft: bool
    ) -> Report | None:
        """Which report a reporter's message answers, if any."""
        if replied_message_id is not None:
            found = await self.outbox.report_for_message(
                "reporter", replied_message_id, reporter_id=reporter.id
            )
            if found is not None and found[1] == "question":
                return await self.reports.get(found[0])
        now = self.context.now()
        if (
            not has_draft
            and reporter.answering_report_id is not None
            and reporter.answering_until is not None
            and reporter.answering_until > now
        ):
            return await self.reports.get(reporter.answering_report_id)
        return None

    async def forward_answer(
        self,
        reporter: Reporter,
        report: Report,
        message: dict[str, Any],
        *,
        addition: bool = False,
    ) -> None:
        """Pass the reporter's answer (or an addition they wrote unasked, bot.services.followups)
        to the moderators, as a reply to the report's card."""
        t = self.context.moderators_t
        heading = (
            N_("Addition from the reporter of {code}:")
            if addition
            else N_("Answer from the reporter of {code}:")
        )
        header = html.bold(html.quote(t(heading, code=report.public_code)))
        alert = await self.outbox.alert_of(report.id)
        card_id = alert.sent_message_id if alert else None
        now = self.context.now()
        messages: list[dict[str, Any]]
        if message["type"] == "text":
            # The reporter's text may use all of Telegram's 4,096 characters; with the header it
            # goes as several messages, each a reply to the card (bot/services/splitting.py).
            plain = unescape(message["html"])
            room = TEXT_LIMIT - utf16_len(unescape(header)) - 1
            messages = [
                {"type": "text", "html": html.quote(piece)} for piece in split_text(plain, room)
            ]
            messages[0]["html"] = f"{header}\n{messages[0]['html']}"
        else:
            messages = [{**message, "caption_html": header}]
        for item in messages:
            item["reply_to_message_id"] = card_id
        version = len(await self.events.of_report(report.id))
        await self.outbox.enqueue(
            kind="reporter_answer",
            target="moderators",
            payload={"messages": messages},
            # Several held additions go on in one update, at one `now`: the event count tells
            # them apart.
            idempotency_key=f"answer:{report.id}:{reporter.id}:{version}:{now.timestamp()}",
            report_id=report.id,
            priority=OutboxPriority.URGENT,
        )
        reporter.answering_until = now + ANSWER_WINDOW
        await self.events.add(
            report_id=report.id, actor=None, actor_name=None, action="answer", at=now
        )

    # --- commands ------------------------------------------------------------------------------
    async def history(self, actor: Actor, chat_id: int, code: str) -> Outcome | list[str]:
        refused = await self._authorised(actor, chat_id, None, CAN_TRIAGE)
        if refused is not None:
            return refused
        report = await self.reports.by_code(code)
        if report is None:
            return _refusal(N_("No report has the code {code}."), code=code.strip()[:16])
        t = self.context.moderators_t
        lines = [html.bold(html.quote(t(N_("History of {code}"), code=report.public_code)))]
        lines.append(html.quote(t(N_("{when}: received"), when=t.datetime(report.created_at))))
        for event in await self.events.of_report(report.id):
            action = t(ACTION_LABELS.get(event.action, event.action))
            if event.action == "refused":
                action = f"{action} ({event.note})"
            lines.append(
                html.quote(
                    t(
                        N_("{when}: {action} by {name}"),
                        when=t.datetime(event.at),
                        action=action,
                        name=event.actor_name or (str(event.actor) if event.actor else "—"),
                    )
                )
            )
        return lines

    async def manage_staff(
        self, actor: Actor, chat_id: int, verb: str, user_id: int | None, role: str | None
    ) -> Outcome | list[str]:
        refused = await self._authorised(actor, chat_id, None, CAN_MANAGE_STAFF)
        if refused is not None:
            return refused
        t = self.context.moderators_t
        if verb == "list":
            rows = await self.staff.active()
            lines = [html.bold(html.quote(t(N_("Staff"))))]
            lines += [
                f"{row.user_id} · {html.quote(t(_ROLE_LABELS[StaffRole(row.role)]))}"
                for row in rows
            ]
            lines += [
                f"{uid} · {html.quote(t(_ROLE_LABELS[StaffRole.ADMIN]))} (ADMIN_IDS)"
                for uid in sorted(self.context.admin_ids)
            ]
            return lines
        if user_id is None:
            return _refusal(_STAFF_USAGE)
        if verb == "add":
            try:
                staff_role = StaffRole(role or "moderator")
            except ValueError:
                return _refusal(_STAFF_USAGE)
            await self.staff.set_role(user_id, staff_role)
            await self.events.add(
                report_id=None,
                actor=actor.user_id,
                actor_name=actor.name,
                action="staff_add",
                note=f"{user_id}:{staff_role.value}",
                at=self.context.now(),
            )
            return Outcome(
                True,
                Msg(
                    N_("{user} is now {role}."),
                    {"user": user_id, "role": t(_ROLE_LABELS[staff_role])},
                ),
            )
        if verb == "remove":
            removed = await self.staff.deactivate(user_id)
            await self.events.add(
                report_id=None,
                actor=actor.user_id,
                actor_name=actor.name,
                action="staff_remove",
                note=str(user_id),
                at=self.context.now(),
            )
            if not removed:
                return _refusal(N_("{user} is not on the staff list."), user=user_id)
            return Outcome(True, Msg(N_("{user} was removed from the staff."), {"user": user_id}))
        return _refusal(_STAFF_USAGE)

    async def outbox_report(self, actor: Actor, chat_id: int) -> Outcome | list[str]:
        refused = await self._authorised(actor, chat_id, None, CAN_MANAGE_STAFF)
        if refused is not None:
            return refused
        t = self.context.moderators_t
        pending = await self.outbox.pending_count()
        dead = await self.outbox.dead_letters()
        codes = await self.reports.codes([row.report_id for row in dead if row.report_id])
        lines = [
            html.quote(
                t.plural(
                    "{n} message waiting to be sent.", "{n} messages waiting to be sent.", pending
                )
            )
        ]
        lines.append(
            html.bold(html.quote(t.plural("{n} dead letter:", "{n} dead letters:", len(dead))))
        )
        for row in dead:
            when = t.datetime(row.dead_at) if row.dead_at else "—"
            code = codes.get(row.report_id or 0, "—")
            lines.append(
                html.quote(
                    " · ".join(
                        [
                            f"#{row.id}",
                            row.kind,
                            code,
                            when,
                            str(row.attempts),
                            row.last_error or "",
                        ]
                    )
                )
            )
        return lines

    async def resend_dead_letters(
        self, actor: Actor, chat_id: int, row_ids: list[int] | None
    ) -> Outcome:
        """Queue dead letters again (None: all of them); admins only, audited."""
        refused = await self._authorised(actor, chat_id, None, CAN_MANAGE_STAFF)
        if refused is not None:
            return refused
        queued = await self.outbox.resend_dead(row_ids, now=self.context.now())
        await self.events.add(
            report_id=None,
            actor=actor.user_id,
            actor_name=actor.name,
            action="outbox_resend",
            note=",".join(str(row_id) for row_id in queued)[:200],
            at=self.context.now(),
        )
        if not queued:
            return _refusal(N_("No dead letter to send again."))
        return Outcome(True, Msg.counted(RESENT, len(queued), n=len(queued)))


def _is_card_of(alert: Outbox, report: Report, message_id: int, message_text: str) -> bool:
    """Whether the pressed message is this report's card.

    Telegram, not the client, says which message was pressed. Right after the card is sent its
    id may not be recorded yet; then the code on the card's first line decides.
    """
    if alert.sent_message_id is not None:
        return alert.sent_message_id == message_id
    return card_code(message_text) == report.public_code


# What the reporter is told when their report reaches these statuses (with its code). "Needs
# information" is told by the moderator's own question (Moderation._needs_info).
STATUS_NOTICES: dict[str, str] = {
    S.VERIFIED: N_(
        "Your report {code} has been checked and verified by the human-rights team. Thank you."
    ),
    S.CLOSED: N_("Your report {code} has been closed. Thank you for reporting."),
}

_CONFIRM_QUESTIONS = {
    "reject_spam": N_("Reject as spam? Press Yes on the card, or No."),
    "reject_unfounded": N_("Reject as unfounded? Press Yes on the card, or No."),
    "reject_scope": N_("Reject as out of scope? Press Yes on the card, or No."),
}

_DONE: dict[str, str] = {
    "take": N_("Taken: you are the assignee."),
    "verify": N_("Verified."),
    "needs_info": N_("Marked as needing information."),
    "dupof": N_("Marked as a duplicate."),
    "reject_spam": N_("Rejected as spam."),
    "reject_unfounded": N_("Rejected as unfounded."),
    "reject_scope": N_("Rejected as out of scope."),
    "close": N_("Closed."),
    "reopen": N_("Reopened."),
}

# Messenger lets a Page write to a person only within 24 hours of their last message (7 days
# with the HUMAN_AGENT tag): keyed by whether the tag may be used.
_WINDOW_CLOSED = {
    False: N_(
        "Not sent: the reporter of {code} wrote through Facebook Messenger, last on {when}. "
        "Messenger lets the team write only within 24 hours of a person's last message. It "
        "becomes possible again when the reporter writes to the Page."
    ),
    True: N_(
        "Not sent: the reporter of {code} wrote through Facebook Messenger, last on {when}. "
        "Messenger lets the team answer only within 7 days of a person's last message. It "
        "becomes possible again when the reporter writes to the Page."
    ),
}

# Until when a Messenger reporter can be written to, said at the moment it is asked
# (Moderation._reach), and so true then: the reporter's next message moves it. Automated
# messages (status notices, check-ins) go only within 24 hours of the reporter's last message;
# the team's questions within 7 days where the Page has the Human Agent tag
# (developers.facebook.com/docs/messenger-platform/send-messages/message-tags).
REACH_OPEN = N_("Messenger: the reporter can be written to until {until}.")
REACH_QUESTIONS_LONGER = N_(
    "Messenger: the team can write to the reporter until {until}, and ask questions until {human}."
)
REACH_QUESTIONS_ONLY = N_("Messenger: only the team's questions reach the reporter, until {human}.")
REACH_CLOSED = N_("Messenger: the reporter cannot be written to since {since}, until they write.")
# answerCallbackQuery: the text of a press's answer is 0-200 characters
# (core.telegram.org/bots/api#answercallbackquery).
PRESS_ANSWER_LIMIT = 200

RESENT = NP_(
    "{n} dead letter is queued to be sent again.", "{n} dead letters are queued to be sent again."
)

_STAFF_USAGE = N_(
    "Usage: /staff add USER_ID moderator|coordinator|admin, /staff remove USER_ID, /staff list"
)

_ROLE_LABELS = {
    StaffRole.MODERATOR: N_("moderator"),
    StaffRole.COORDINATOR: N_("coordinator"),
    StaffRole.ADMIN: N_("admin"),
}
