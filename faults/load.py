"""Members, their messages, and Twilio delivering them (some more than once), signed.

Every member sends one message, in one of the shipped languages, by SMS or WhatsApp; the
acknowledgement goes back to the member's own address, which is how the fake Twilio's
records are matched to members. A fifth of the messages are delivered two or three times,
the copies a little later and sometimes at the same moment, as Twilio's retries arrive.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode
from xml.etree import ElementTree

from feedback_bot.testing.fake_twilio import random_sid, sign_request

PATH = "/webhooks/twilio/messages"
SMS_NUMBER = "+441632960000"
WHATSAPP_NUMBER = "whatsapp:+441632960001"

# Two sentences per language, each detected as its language with confidence (checked by
# ``faults/run.py --check-sentences``); the first six are the ones tests/test_guarantee.py uses.
SENTENCES: dict[str, tuple[str, ...]] = {
    "en": (
        "The streetlights on Mill Road have been out for a week and it feels unsafe at night.",
        "The bins on Oak Street were not collected again this week, and the foxes got at them.",
    ),
    "pl": (
        "Latarnie na ulicy Młyńskiej nie działają od tygodnia i boję się wracać do domu.",
        "Autobus do szpitala powinien jeździć po szóstej, moja mama nie może wrócić do domu.",
    ),
    "es": (
        "Las farolas de la calle del Molino llevan una semana apagadas y me da miedo volver.",
        "El autobús al hospital debería pasar después de las seis, mi madre no puede volver.",
    ),
    "uk": (
        "Ліхтарі на Млинській вулиці не працюють уже тиждень, і мені страшно повертатися.",
        "Автобус до лікарні має ходити після шостої, моя мама не може повернутися додому.",
    ),
    "ar": (
        "أضواء الشارع في طريق الطاحونة مطفأة منذ أسبوع وأشعر بعدم الأمان عند العودة.",
        "يجب أن تعمل الحافلة إلى المستشفى بعد السادسة، أمي لا تستطيع العودة إلى البيت.",
    ),
    "cy": (
        "Mae goleuadau'r stryd ar Heol y Felin wedi bod i ffwrdd ers wythnos ac mae'n beryglus.",
        "Dydy'r biniau ar Stryd y Dderwen ddim wedi cael eu casglu eto yr wythnos hon.",
    ),
    "ro": (
        "Felinarele de pe strada Morii nu funcționează de o săptămână și mi-e frică seara.",
        "Autobuzul spre spital ar trebui să circule după ora șase, mama nu poate ajunge acasă.",
    ),
    "bn": (
        "মিল রোডের রাস্তার আলো এক সপ্তাহ ধরে বন্ধ, রাতে বাড়ি ফিরতে আমার ভয় লাগে।",
        "হাসপাতালের বাস ছয়টার পরেও চালানো উচিত, আমার মা বাড়ি ফিরতে পারেন না।",
    ),
    "ur": (
        "مل روڈ پر گلی کی بتیاں ایک ہفتے سے بند ہیں اور رات کو گھر واپس آتے ہوئے ڈر لگتا ہے۔",
        "ہسپتال جانے والی بس چھ بجے کے بعد بھی چلنی چاہیے، میری ماں گھر واپس نہیں آ سکتیں۔",
    ),
    "so": (
        "Laydhka waddada Mill Road waxay dansanaayeen toddobaad, habeenkiina waan ka baqaa.",
        "Baska isbitaalka wuxuu ahaa inuu shaqeeyo lixda kadib, hooyaday guriga ma imaan karto.",
    ),
}


@dataclass(frozen=True)
class Member:
    index: int
    number: str  # E.164
    channel: str  # "sms" or "whatsapp"
    locale: str
    body: str
    sid: str  # the MessageSid of the one message this member sends

    @property
    def address(self) -> str:
        """Where the member writes from, and where their acknowledgement must go."""
        return "whatsapp:" + self.number if self.channel == "whatsapp" else self.number

    @property
    def ours(self) -> str:
        return WHATSAPP_NUMBER if self.channel == "whatsapp" else SMS_NUMBER

    def params(self, account_sid: str) -> dict[str, str]:
        """The form Twilio posts for this member's message."""
        return {
            "MessageSid": self.sid,
            "SmsMessageSid": self.sid,
            "SmsSid": self.sid,
            "AccountSid": account_sid,
            "From": self.address,
            "To": self.ours,
            "Body": self.body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }


def make_members(count: int, rng: random.Random) -> list[Member]:
    locales = list(SENTENCES)
    members = []
    for index in range(count):
        locale = locales[index % len(locales)]
        # Every language on both channels: the channel flips once per round of languages.
        channel = "whatsapp" if (index // len(locales)) % 2 else "sms"
        members.append(
            Member(
                index=index,
                number=f"+447912{index:06d}",  # valid UK mobile numbers, one per member
                channel=channel,
                locale=locale,
                body=rng.choice(SENTENCES[locale]),
                sid=random_sid("SM"),
            )
        )
    return members


def make_deliveries(members: list[Member], rng: random.Random) -> list[Member]:
    """The order Twilio posts in: each message once, a fifth again once or twice, later."""
    keyed: list[tuple[float, Member]] = []
    for member in members:
        keyed.append((float(member.index), member))
        if member.index % 5 == 0:
            copies = 1 + (member.index // 5) % 2  # delivered twice or three times
            for _ in range(copies):
                # Usually a few messages later; now and then right behind the first.
                keyed.append((member.index + rng.choice((0.5, rng.uniform(1, 40))), member))
    keyed.sort(key=lambda pair: pair[0])
    return [member for _, member in keyed]


@dataclass
class Answer:
    """What our webhook answered to one delivery (after retries of that delivery)."""

    member: int
    seq: int  # position in the delivery order: Twilio's retries of a message come later
    status: int | None
    inline: list[str]  # the <Message> texts in the TwiML: Twilio sends each to the member
    tries: int
    error: str | None
    started_at: float
    finished_at: float


def twiml_messages(body: str) -> list[str]:
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - our own server's TwiML
    except ElementTree.ParseError:
        return []
    return [element.text or "" for element in root.iter("Message")]


@dataclass
class Sender:
    """Posts deliveries from a thread pool, each signed as Twilio signs it."""

    port: int
    public_base_url: str
    account_sid: str
    auth_token: str
    concurrency: int
    rate: float  # deliveries per second; 0 sends as fast as the pool can
    max_tries: int = 5
    answers: list[Answer] = field(default_factory=list)
    done: int = 0
    first_sent_at: float = 0.0
    last_answered_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, member: Member, seq: int = 0) -> Answer:
        started_at = time.monotonic()
        params = member.params(self.account_sid)
        body = urlencode(params)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign_request(
                self.auth_token, self.public_base_url + PATH, params
            ),
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": random_sid("ID"),
        }
        status: int | None = None
        error: str | None = None
        text = ""
        tries = 0
        # Twilio retries a delivery that got no answer or a server error (connection
        # overrides); each retry is the same MessageSid and the same signature.
        while tries < self.max_tries:
            tries += 1
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                connection.request("POST", PATH, body=body, headers=headers)
                response = connection.getresponse()
                status, text = response.status, response.read().decode("utf-8", "replace")
                error = None if status == 200 else text[:200]
            except (OSError, http.client.HTTPException) as exc:
                status, error = None, repr(exc)
            finally:
                connection.close()
            if status == 200 or (status is not None and 400 <= status < 500):
                break
            time.sleep(1.0)
        inline = twiml_messages(text) if status == 200 else []
        return Answer(member.index, seq, status, inline, tries, error, started_at, time.monotonic())

    def run(self, deliveries: list[Member], stop: Callable[[], bool] | None = None) -> None:
        """Send every delivery; returns when all are answered (or given up)."""
        position = 0
        position_lock = threading.Lock()
        self.first_sent_at = time.monotonic()

        def next_delivery() -> tuple[int, Member] | None:
            nonlocal position
            with position_lock:
                if position >= len(deliveries):
                    return None
                index, position = position, position + 1
                return index, deliveries[index]

        def loop() -> None:
            while True:
                if stop is not None and stop():
                    return
                taken = next_delivery()
                if taken is None:
                    return
                index, member = taken
                if self.rate > 0:
                    due = self.first_sent_at + index / self.rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                answer = self.post(member, index)
                with self._lock:
                    self.answers.append(answer)
                    self.done += 1
                    self.last_answered_at = max(self.last_answered_at, answer.finished_at)

        threads = [
            threading.Thread(target=loop, name=f"sender-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
