"""The reporter's session, channel-neutral: what the bot does and says for one input.

Every channel's adapter (handlers/telegram/reporter.py, handlers/messenger/conversation.py) turns a
platform event into a call here and what is said here into platform messages; the rules live
once: consent, erasing the link (/forget), safety check-in answers, answers to the team's
questions, messages held for a report already sent (follow-ups), files refused or passed on as
they are. The report form itself is driven by bot/services/form.py, which says its messages
into the same `said`. What is said is channel-neutral (bot/services/messages.py): `said`, in
order, and `ack`, the acknowledgement of a pressed button (a short notice on a platform that has
them, else one more message; `alert`: one the person must close) (README, "Architecture").
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.services import messages
from bot.services.actions import (
    LANGUAGE_NAMES,
    consent_actions,
    followup_actions,
    forget_actions,
    language_actions,
    wipe_actions,
)
from bot.services.followups import FollowUps
from bot.services.intake import Intake
from bot.services.media import NOTICES, REFUSALS
from bot.services.messages import Action, Intent
from bot.services.moderation import Moderation
from bot.services.privacy import Deleter, Privacy
from bot.services.receipts import help_text
from handlers.engine.render import Translator
from handlers.engine.text import N_
from storage.models import Report, Reporter

NOT_NOW = N_("All right, nothing was sent. If you change your mind, send /start.")
THANK_YOU = N_("Thank you.")
NOTHING_ERASED = N_("Nothing was erased.")
NOTHING_DELETED = N_("Nothing was deleted.")
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


@dataclass(frozen=True)
class Wording:
    """What a channel's reporters read differently: who can see the conversation, and what the
    platform lets the bot do about it (Messenger lets a Page delete no message)."""

    platform: str  # named in the consent notice
    welcome: str
    safety_help: str  # /help's part about safety
    forget_question: str
    wipe: str  # /wipe: the question (`can_delete`), or how to clear the chat by hand
    can_delete: bool
    # The language choice asked in all three languages at once (a reader whose language is
    # not known yet), or in the reader's.
    languages_at_once: bool
    # /start: the welcome before the consent notice (a thread that opens empty, where it says
    # what the Page is), or after it is agreed to.
    welcome_before_consent: bool
    # Buttons show under the latest message only (Messenger's quick replies): after /help the
    # question is asked again, so that its buttons come back.
    asks_again_after_help: bool
    # The consent notice offers its own language too, or only the others (quick replies are
    # few: at most 13).
    offers_own_language: bool


TELEGRAM = Wording(
    platform="Telegram",
    welcome=N_(
        "Hello. Through this bot you can report a detention, a search, a frozen "
        "bank account, a summons or other persecution in Kazakhstan. Your report "
        "goes to a team of human-rights defenders.\n\nTelegram can see this "
        "conversation. If you are worried, use a second account and do not give "
        "your own name. You can stop at any time with /cancel.\n\n"
        "/language changes the language, /help explains more."
    ),
    safety_help=N_(
        "Your safety: /wipe clears this chat from your phone, /forget erases the link between "
        "you and your reports."
    ),
    forget_question=N_(
        "Erase the link between you and your reports?\n\nThe bot forgets this chat: the team "
        "can no longer write to you here, safety check-ins are cancelled and an unfinished "
        "report is deleted. Your reports stay with the team for the record, with nothing that "
        "leads to your account. This cannot be undone.\n\nTo clear this chat from your phone as "
        "well, use /wipe first."
    ),
    wipe=N_(
        "Clear this chat? The bot deletes its messages and yours from the last 48 "
        "hours (Telegram allows no more) and leaves one neutral line. Your reports "
        "stay with the team.\n\nOlder messages you can delete yourself: delete this "
        "chat in Telegram, for both sides."
    ),
    can_delete=True,
    languages_at_once=False,
    welcome_before_consent=False,
    asks_again_after_help=False,
    offers_own_language=True,
)
MESSENGER = Wording(
    platform="Meta",
    welcome=N_(
        "Hello. Here you can report a detention, a search, a frozen bank account, a summons or "
        "other persecution in Kazakhstan. Your report goes to a team of human-rights defenders."
        "\n\nMeta can see this conversation. If you are worried, write from a second account "
        "and do not give your own name. You can stop at any time with Cancel.\n\n"
        "/language changes the language, /help explains more."
    ),
    safety_help=N_(
        "Your safety: /forget erases the link between you and your reports. The bot cannot "
        "delete messages in Messenger: to clear this conversation from your phone, delete it "
        "in Messenger yourself."
    ),
    forget_question=N_(
        "Erase the link between you and your reports?\n\nThe bot forgets this conversation: "
        "the team can no longer write to you here, safety check-ins are cancelled and an "
        "unfinished report is deleted. Your reports stay with the team for the record, with "
        "nothing that leads to your account. This cannot be undone.\n\nThe messages stay on "
        "your phone until you delete the conversation in Messenger."
    ),
    wipe=N_(
        "In Messenger the bot cannot delete messages, not even its own. To clear this "
        "conversation from your phone, delete it in Messenger: open the list of chats, press "
        "and hold this one and choose Delete. Your reports stay with the team. /forget also "
        "erases the link between you and your reports."
    ),
    can_delete=False,
    languages_at_once=True,
    welcome_before_consent=True,
    asks_again_after_help=True,
    offers_own_language=False,
)
# By the reporter's channel (Reporter.channel); a channel not named reads Telegram's wording.
WORDINGS = {"telegram": TELEGRAM, "messenger": MESSENGER}
CHOOSE_LANGUAGE = N_("Choose a language:")
LANGUAGE_CHANGED = N_("Language changed.")


def wording(channel: str) -> Wording:
    return WORDINGS.get(channel, TELEGRAM)


def consent_notice(privacy: Privacy, t: Translator, channel: str) -> messages.Message:
    """The consent notice (naming who can see a conversation on `channel`), with its answers."""
    platform = wording(channel).platform
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
    # The acknowledgement is an alert the person must close (a refused report), where the
    # platform has them.
    alert: bool = False

    def say(self, text: str, actions: Iterable[Sequence[Action]] = ()) -> messages.Message:
        message = messages.text(messages.plain(text), actions=actions)
        self.said.append(message)
        return message

    def take(self) -> tuple[list[messages.Message], str | None]:
        """What was said since the last call, and the acknowledgement; both are cleared."""
        said, ack = self.said, self.ack
        self.said, self.ack, self.alert = [], None, False
        return said, ack

    def acknowledge(self, text: str, *, alert: bool = False) -> None:
        self.ack, self.alert = text, alert

    def clear_buttons(self, message_id: int | None) -> None:
        """Take the buttons off the pressed message (its platform id, where the platform gives
        one; without it, the last question asked in the chat)."""
        cleared: messages.Message = {"type": "clear_buttons"}
        if message_id is not None:
            cleared["message_id"] = message_id
        self.said.append(cleared)

    @property
    def wording(self) -> Wording:
        return wording(self.reporter.channel)

    # --- welcome, language -----------------------------------------------------------------------
    def welcome(self) -> None:
        self.say(self.t(self.wording.welcome))

    def ask_language(self) -> None:
        """The language choice: in the reader's language, or in all three at once."""
        if self.wording.languages_at_once:
            catalogs = self.intake.context.catalogs
            prompt = "\n".join(
                catalogs.gettext(CHOOSE_LANGUAGE, locale=lang) for lang in LANGUAGE_NAMES
            )
        else:
            prompt = self.t(CHOOSE_LANGUAGE)
        self.say(prompt, [language_actions()])

    def choose_language(self, language: str) -> None:
        """The reporter chose a language: the first choice is welcomed, a change acknowledged."""
        first_choice = self.reporter.language is None
        self.reporter.language = language
        self.t = self.intake.translator(language)
        if first_choice:
            self.welcome()
        else:
            self.ack = self.t(LANGUAGE_CHANGED)

    # --- consent, help, erasure ------------------------------------------------------------------
    def asks_first(
        self, wanted: str, before_consent: Container[str], *, chooses_language: bool
    ) -> bool:
        """What must come before `wanted` (a command, or a button's intent), asked if it has
        not come yet: the language, where the platform did not say it (unless `wanted` chooses
        it), then the consent notice (unless `wanted` is in `before_consent`, what may be done
        before agreeing to it). True when something was asked and `wanted` is not done; the one
        rule for commands (bot/services/commands.py) and buttons (bot/services/buttons.py)."""
        if self.reporter.language is None and not chooses_language:
            self.ask_language()
            return True
        if wanted not in before_consent and self.privacy.needs_consent(self.reporter):
            self.ask_consent()
            return True
        return False

    def ask_consent(self) -> messages.Message:
        notice = consent_notice(self.privacy, self.t, self.reporter.channel)
        if not self.wording.offers_own_language:
            own = [self.t.locale]
            notice["actions"] = [
                [a for a in row if not (a["intent"] == Intent.LANGUAGE and a["args"] == own)]
                for row in notice["actions"]
            ]
        self.said.append(notice)
        return notice

    def help(self) -> None:
        """/help: how it works, how to stay safe on this channel, and what happens after
        sending."""
        after_sending = help_text(self.t, self.intake.context.help_contacts)
        self.say("\n\n".join([self.t(HELP), self.t(self.wording.safety_help), after_sending]))

    async def ask_wipe(self) -> None:
        """/wipe: clear the chat (keeping the report codes, if there are any), or, where the
        bot can delete nothing, how to clear it by hand."""
        if not self.wording.can_delete:
            self.say(self.t(self.wording.wipe))
            return
        codes = await self.privacy.recent_codes(self.reporter)
        self.say(self.t(self.wording.wipe), wipe_actions(self.t, codes=bool(codes), cancel=True))

    async def wipe(self, answer: str, delete: Deleter | None, *, pressed_id: int | None) -> None:
        """The answer to /wipe's question: clear the chat, leaving one neutral line ("keep":
        with the report codes, each on a line of its own to copy; "all"), or not. Where the
        bot can delete nothing (`delete` is None) it says how to clear the chat by hand."""
        if delete is None or not self.wording.can_delete:
            await self.ask_wipe()
            return
        if answer not in ("keep", "all"):
            self.clear_buttons(pressed_id)
            self.acknowledge(self.t(NOTHING_DELETED))
            return
        # The pressed message: a receipt can be pressed before the worker recorded sending it.
        also = [pressed_id] if pressed_id is not None else []
        codes = await self.privacy.wipe(
            self.reporter, delete, keep_codes=answer == "keep", also=also
        )
        spans = [messages.plain(self.privacy.neutral_line(self.t))]
        for code in codes:
            spans += [messages.plain("\n"), messages.Span(code, messages.Style.CODE)]
        self.said.append(messages.text(spans))

    def consent(self, agreed: bool) -> bool:
        """The answer to the consent notice; True when the report can begin."""
        if not agreed:
            self.say(self.t(NOT_NOW))
            return False
        self.privacy.accept_consent(self.reporter)
        self.ack = self.t(THANK_YOU)
        return True

    async def forget(self, answer: str, question: str | None = None) -> bool:
        """/forget: "" asks (in the channel's wording unless `question` says), "yes" erases
        the link to the reporter; True once erased."""
        if answer == "":
            self.say(self.t(question or self.wording.forget_question), [forget_actions(self.t)])
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
