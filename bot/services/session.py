"""The reporter's session, channel-neutral: what the bot does and says for one input.

Every channel's adapter (handlers/telegram/reporter.py, handlers/messenger/conversation.py) turns a
platform event into a call here and what is said here into platform messages; the rules live
once: consent, erasing the link (/forget), safety check-in answers, answers to the team's
questions, messages held for a report already sent (follow-ups), files refused or passed on as
they are. What is said is channel-neutral (bot/services/messages.py): `said`, in order, and
`ack`, the acknowledgement of a pressed button (a short notice on a platform that has them,
else one more message) (README, "Architecture").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.services import messages
from bot.services.actions import consent_actions, followup_actions, forget_actions
from bot.services.followups import FollowUps
from bot.services.intake import Intake
from bot.services.media import NOTICES, REFUSALS
from bot.services.messages import Action
from bot.services.moderation import Moderation
from bot.services.privacy import Privacy
from bot.services.receipts import help_text
from handlers.engine.render import Translator
from handlers.engine.text import N_
from storage.models import Report, Reporter

NOT_NOW = N_("All right, nothing was sent. If you change your mind, send /start.")
THANK_YOU = N_("Thank you.")
NOTHING_ERASED = N_("Nothing was erased.")
FORGOTTEN = N_(
    "Done: the link between you and your reports is erased. If you write again, you start as a "
    "new reporter."
)
PASSED_ON = N_("Thank you, your answer was passed to the team. To report something new, send /new.")
HELP = N_(
    "How it works: choose what happened, answer the questions (you can skip most of them), "
    "check the answers and send. You get a code for your report.\n\nButtons: Back returns "
    "to the previous question, Skip leaves a question unanswered, Cancel throws the report "
    "away.\n\nCommands: /new a new report, /cancel stop the current one, "
    "/language change the language."
)
CANNOT_READ = N_(
    "I can only read text, photos and documents. Please write your answer, or use the buttons."
)


def consent_notice(privacy: Privacy, t: Translator, platform: str) -> messages.Message:
    """The consent notice (`platform`: who can see the conversation), with its answers."""
    return messages.text(
        messages.plain(privacy.consent_text(t, platform=platform)), actions=consent_actions(t)
    )


@dataclass
class ReporterSession:
    intake: Intake
    moderation: Moderation
    privacy: Privacy
    reporter: Reporter
    t: Translator
    said: list[messages.Message] = field(default_factory=list)
    ack: str | None = None

    def say(self, text: str, actions: Iterable[Sequence[Action]] = ()) -> messages.Message:
        message = messages.text(messages.plain(text), actions=actions)
        self.said.append(message)
        return message

    def take(self) -> tuple[list[messages.Message], str | None]:
        """What was said since the last call, and the acknowledgement; both are cleared."""
        said, ack = self.said, self.ack
        self.said, self.ack = [], None
        return said, ack

    # --- consent, help, erasure ------------------------------------------------------------------
    def ask_consent(self, platform: str) -> messages.Message:
        notice = consent_notice(self.privacy, self.t, platform)
        self.said.append(notice)
        return notice

    def help(self, safety: str) -> None:
        """/help: how it works, how to stay safe (`safety`: the channel's wording), and what
        happens after sending."""
        after_sending = help_text(self.t, self.intake.context.help_contacts)
        self.say("\n\n".join([self.t(HELP), self.t(safety), after_sending]))

    def consent(self, agreed: bool) -> bool:
        """The answer to the consent notice; True when the report can begin."""
        if not agreed:
            self.say(self.t(NOT_NOW))
            return False
        self.privacy.accept_consent(self.reporter)
        self.ack = self.t(THANK_YOU)
        return True

    async def forget(self, answer: str, question: str) -> bool:
        """/forget: "" asks (`question`: the channel's wording), "yes" erases the link to the
        reporter; True once erased."""
        if answer == "":
            self.say(self.t(question), [forget_actions(self.t)])
            return False
        if answer != "yes":
            self.ack = self.t(NOTHING_ERASED)
            return False
        await self.privacy.forget(self.reporter)
        self.say(self.t(FORGOTTEN))
        return True

    # --- safety check-ins ----------------------------------------------------------------------
    async def checkin(self, checkin_id: int, answer: str) -> None:
        said = await self.intake.checkins.answer(self.reporter, checkin_id, answer)
        self.say(self.t.msg(said))

    # --- the team's questions, follow-ups ------------------------------------------------------
    async def answer_team(self, report: Report, contents: Sequence[dict[str, Any]]) -> None:
        """The message answers the team's question: passed on, as replies to the card."""
        for content in contents:
            await self.moderation.forward_answer(self.reporter, report, content)
        self.say(self.t(PASSED_ON))

    async def offer(self, contents: Sequence[dict[str, Any]]) -> messages.Message | None:
        """Outside a report being written, hold the message for one of the reporter's reports
        and ask which (bot.services.followups); None when they have none open."""
        followups = FollowUps(self.intake, self.moderation)
        offer = None
        for content in contents:
            offer = await followups.hold(self.reporter, content)
        if offer is None:
            return None
        choices = [(choice.report_id, choice.code) for choice in offer.choices]
        return self.say(self.t.msg(offer.message), followup_actions(choices, self.t))

    async def follow(self, report_id: int) -> None:
        """The reporter chose the report the held messages add to."""
        said = await FollowUps(self.intake, self.moderation).attach(self.reporter, report_id)
        self.say(self.t.msg(said))

    # --- files, and what cannot be read --------------------------------------------------------
    def file_refused(self, reason: str) -> None:
        self.say(self.t(REFUSALS[reason]))

    def file_notice(self, notice: str) -> None:
        self.say(self.t(NOTICES[notice]))

    def cannot_read(self) -> None:
        self.say(self.t(CANNOT_READ))
