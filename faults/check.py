"""After the storm: what each member received, and what the database kept.

What members received is read from the fake Twilio's own record of the messages it accepted
(not from our outbox), plus the TwiML replies our webhook gave while the database was down:
Twilio sends the ``<Message>`` of a webhook answer it receives to the member.

Which answers did Twilio receive? Twilio delivers a message again only when it did not get
an answer to the earlier delivery (a timeout, a dropped connection, an error), so of the
deliveries of one message it acted on the last one only; the earlier answers never reached
it. That is the verdict ("as Twilio retries"). The literal reading, in which every 200
answer's TwiML reaches the member, is counted too ("if every answer counted") and reported
beside it: the two differ only for messages delivered more than once around the outage.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .load import Answer, Member


@dataclass
class Verdict:
    unique_messages: int = 0
    deliveries: int = 0
    webhook_statuses: dict[str, int] = field(default_factory=dict)
    webhook_retries: int = 0
    deliveries_answered_inline: int = 0
    members_answered_inline: int = 0
    # Per member, as Twilio retries: API messages plus the last delivery's inline reply.
    acknowledged: int = 0
    acknowledged_by_api: int = 0
    acknowledged_inline: int = 0
    duplicated: int = 0
    duplicated_api_twice: int = 0
    duplicated_inline_and_api: int = 0
    unacknowledged: int = 0
    # The literal reading: every inline reply in a 200 answer reached the member.
    every_answer_duplicated: int = 0
    every_answer_inline_twice: int = 0
    every_answer_inline_and_api: int = 0
    every_answer_unacknowledged: int = 0
    wrong_language: int = 0
    wrong_channel: int = 0
    unexpected_recipients: int = 0
    stored: int = 0
    lost: int = 0
    stored_more_than_once: int = 0
    outbox: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        found = []
        for name in (
            "lost",
            "stored_more_than_once",
            "duplicated",
            "unacknowledged",
            "wrong_language",
            "wrong_channel",
            "unexpected_recipients",
        ):
            if getattr(self, name):
                found.append(f"{name}={getattr(self, name)}")
        bad_status = sum(n for status, n in self.webhook_statuses.items() if status != "200")
        if bad_status:
            found.append(f"deliveries not answered 200={bad_status}")
        return found

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "problems": self.problems()}

    def note(self, kind: str, text: str) -> None:
        examples = self.examples.setdefault(kind, [])
        if len(examples) < 5:
            examples.append(text)


def timeline(answers: list[Answer], api: list[dict[str, Any]], origin: float) -> str:
    parts = [
        f"delivery {a.seq} {'inline ack' if a.inline else 'empty TwiML'} "
        f"at {a.started_at - origin:.2f}-{a.finished_at - origin:.2f}s"
        for a in answers
    ]
    parts += [f"API ack {m['sid']} created {m.get('created_at')}" for m in api]
    return "; ".join(parts)


def verify(
    members: list[Member],
    answers: Iterable[Answer],
    sent_at_twilio: list[dict[str, Any]],
    stored: dict[str, tuple[int, int | None]],
    outbox: dict[str, int],
    expected_ack: Callable[[Member, int], str],
    expected_inline: Callable[[Member], str],
    origin: float = 0.0,
) -> Verdict:
    """Compare what members should have had with what they got.

    ``stored``: MessageSid -> (rows with that SID, its feedback item id).
    ``expected_ack(member, item_id)`` / ``expected_inline(member)``: the text in the
    member's language. ``origin``: the monotonic time the run started (for examples).
    """
    verdict = Verdict(unique_messages=len(members), outbox=dict(outbox))
    answers = sorted(answers, key=lambda a: a.seq)
    verdict.deliveries = len(answers)
    verdict.webhook_statuses = dict(
        Counter(str(a.status) if a.status is not None else "no answer" for a in answers)
    )
    verdict.webhook_retries = sum(a.tries - 1 for a in answers)
    by_member: dict[int, list[Answer]] = defaultdict(list)
    for answer in answers:
        by_member[answer.member].append(answer)
        if answer.inline:
            verdict.deliveries_answered_inline += 1
    verdict.members_answered_inline = sum(
        1 for delivered in by_member.values() if any(a.inline for a in delivered)
    )

    by_address: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in sent_at_twilio:
        by_address[message["to"]].append(message)
    addresses = {member.address for member in members}
    unexpected = [address for address in by_address if address not in addresses]
    verdict.unexpected_recipients = len(unexpected)
    for address in unexpected[:5]:
        verdict.note("unexpected_recipients", address)

    for member in members:
        count, item_id = stored.get(member.sid, (0, None))
        if count == 0:
            verdict.lost += 1
            verdict.note("lost", f"{member.sid} from member {member.index}")
        else:
            verdict.stored += 1
        if count > 1:
            verdict.stored_more_than_once += 1

        delivered = by_member.get(member.index, [])
        api = by_address.get(member.address, [])
        every_inline = [text for a in delivered for text in a.inline]
        last_inline = delivered[-1].inline if delivered else []
        story = f"member {member.index}: {timeline(delivered, api, origin)}"

        total = len(api) + len(last_inline)
        if total == 0:
            verdict.unacknowledged += 1
            verdict.note("unacknowledged", story)
        else:
            verdict.acknowledged += 1
            if total == 1 and api:
                verdict.acknowledged_by_api += 1
            elif total == 1:
                verdict.acknowledged_inline += 1
        if total > 1:
            verdict.duplicated += 1
            verdict.duplicated_api_twice += len(api) > 1
            verdict.duplicated_inline_and_api += bool(api and last_inline)
            verdict.note("duplicated", story)

        every_total = len(api) + len(every_inline)
        verdict.every_answer_unacknowledged += every_total == 0
        if every_total > 1:
            verdict.every_answer_duplicated += 1
            verdict.every_answer_inline_twice += len(every_inline) > 1
            verdict.every_answer_inline_and_api += bool(api and every_inline)
            verdict.note("if every answer counted: duplicated", story)

        wrong = False
        for message in api:
            if message.get("from") != member.ours:
                verdict.wrong_channel += 1
                verdict.note("wrong_channel", f"member {member.index}: from {message.get('from')}")
            if item_id is None or message.get("body") != expected_ack(member, item_id):
                wrong = True
        if any(text != expected_inline(member) for text in every_inline):
            wrong = True
        if wrong:
            verdict.wrong_language += 1
            texts = [m.get("body", "")[:50] for m in api] + [t[:50] for t in every_inline]
            verdict.note("wrong_language", f"member {member.index} ({member.locale}): {texts}")
    return verdict
