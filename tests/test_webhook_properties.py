"""Properties of the inbound webhook's parsing, and of the webhook end to end.

``parse`` turns whatever Twilio (or anybody) posts into an ``InboundPayload`` or refuses it
with a ``PayloadError`` that names the field; it never fails any other way. Then, through
the signed webhook itself: no body ever makes it answer 500, and a message it stores is
stored exactly as sent (NUL characters aside, which are dropped).
"""

from __future__ import annotations

import itertools
import os
import string
import tempfile
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from feedback_bot.extensions import db
from feedback_bot.models import Channel, InboundMessage
from feedback_bot.webhooks.payload import (
    InboundPayload,
    PayloadError,
    normalise_number,
    parse,
)

from .conftest import SMS_NUMBER, WHATSAPP_NUMBER, signed_post, twilio_params

# Hypothesis caches (constants, Unicode tables) go to a temporary folder, not the checkout.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "feedback-bot-hypothesis")

MAX_BODY = 10_000
MAX_MEDIA = 10
# No example database: property runs must not leave files in the checkout.
PROPERTIES = settings(database=None, max_examples=200, deadline=None)

FIELDS = (
    "MessageSid",
    "SmsMessageSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "OptOutType",
    "MediaUrl0",
    "MediaContentType0",
    "MediaUrl1",
    "MediaContentType1",
    "AccountSid",
)

any_text = st.text(max_size=80) | st.text(
    alphabet="\x00 \t\n+:whatsapWHATSAP0123456789٣²", max_size=30
)
sids = st.builds(
    lambda prefix, digits: prefix + digits,
    st.sampled_from(["SM", "MM", "sm", "S", ""]),
    st.text(alphabet=string.hexdigits, min_size=30, max_size=34),
)


@st.composite
def regions_numbers(draw: Any) -> phonenumbers.PhoneNumber:
    """A real, valid number from one of phonenumbers' regions."""
    region = draw(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)))
    kind = draw(
        st.sampled_from(
            [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
        )
    )
    number = phonenumbers.example_number_for_type(region, kind)
    assume(number is not None and phonenumbers.is_valid_number(number))
    return number


def written(number: phonenumbers.PhoneNumber, style: int) -> str:
    return phonenumbers.format_number(number, style)


# Counts as typed, and runs of digits long enough to trouble int() (over 4,300 digits).
counts = st.text(alphabet="0123456789 -+.", max_size=12) | st.builds(
    lambda digit, length: digit * length,
    st.sampled_from("019"),
    st.sampled_from([2, 4_300, 4_301, 5_000]) | st.integers(0, 6_000),
)


@st.composite
def forms(draw: Any) -> MultiDict[str, str]:
    """Arbitrary forms: a real message with fields replaced, repeated or dropped, or fields
    with any values at all, plus unknown fields."""
    pairs: list[tuple[str, str]] = []
    if draw(st.booleans()):
        sender = draw(st.sampled_from(["+447911123456", "whatsapp:+447911123457", "ACME"]))
        pairs = list(twilio_params(sender, draw(any_text)).items())
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=8)):
        value = draw(sids if name.endswith("Sid") else any_text)
        how = draw(st.sampled_from(["replace", "repeat", "drop"]))
        if how != "repeat":
            pairs = [(key, old) for key, old in pairs if key != name]
        if how != "drop":
            pairs.append((name, value))
    pairs += draw(st.lists(st.tuples(st.text(max_size=12), any_text), max_size=3))
    if draw(st.booleans()):
        pairs = [(key, value) for key, value in pairs if key != "NumMedia"]
        pairs.append(("NumMedia", draw(counts)))
    if draw(st.booleans()):
        pairs = [(key, value) for key, value in pairs if key != "Body"]
        pairs.append(("Body", draw(st.text(max_size=20)) * draw(st.integers(0, 600))))
    return MultiDict(pairs)


@settings(PROPERTIES, max_examples=600)
@given(forms())
def test_parse_returns_a_payload_or_refuses_with_a_payload_error(form):
    try:
        payload = parse(form, MAX_BODY, MAX_MEDIA)
    except PayloadError as exc:
        assert exc.status in {400, 413}
        assert str(exc)
        return
    assert isinstance(payload, InboundPayload)
    assert payload.channel in Channel.ALL
    assert "\x00" not in payload.body
    assert len(payload.body) <= MAX_BODY
    assert len(payload.media) <= MAX_MEDIA
    assert payload.message_sid == payload.message_sid.strip()
    # It survives the spool's round trip unchanged.
    assert InboundPayload.from_dict(payload.to_dict()) == payload


@PROPERTIES
@given(
    regions_numbers(),
    st.sampled_from(
        [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL]
    ),
    st.sampled_from(["", "whatsapp:", "WhatsApp:", "WHATSAPP:"]),
    st.sampled_from(["", " ", "\t", "\n"]),
)
def test_valid_numbers_normalise_to_e164_and_the_prefix_decides_the_channel(
    number, style, prefix, padding
):
    e164 = written(number, phonenumbers.PhoneNumberFormat.E164)
    sender = written(number, style)
    to = WHATSAPP_NUMBER if prefix else SMS_NUMBER
    form = MultiDict(twilio_params(padding + prefix + sender + padding, "Hi", to=to))

    payload = parse(form, MAX_BODY, MAX_MEDIA)

    assert (payload.sender, payload.sender_valid) == (e164, True)
    assert payload.channel == (Channel.WHATSAPP if prefix else Channel.SMS)
    assert payload.reply_address == ("whatsapp:" + e164 if prefix else e164)
    assert normalise_number(e164) == (e164, True)


@PROPERTIES
@given(st.text(max_size=60).filter(lambda s: s.strip() and "\x00" not in s))
def test_without_the_prefix_it_is_sms_and_with_it_whatsapp(raw):
    for sender, channel in ((raw, Channel.SMS), ("whatsapp:" + raw, Channel.WHATSAPP)):
        assume(len(sender.strip()) <= 64)
        if channel == Channel.SMS:
            assume(not sender.strip().lower().startswith("whatsapp:"))
        form = MultiDict(twilio_params("+447911123456", "Hi"))
        form["From"] = sender
        payload = parse(form, MAX_BODY, MAX_MEDIA)
        assert payload.channel == channel
        if not payload.sender_valid:
            # An unusable sender is kept as it came, prefix removed, never "corrected".
            assert payload.sender == sender.strip().removeprefix("whatsapp:")


media_refs = st.tuples(
    st.builds(
        lambda scheme, path: f"{scheme}://api.twilio.com/{path}",
        st.sampled_from(["https", "http"]),
        st.text(alphabet=string.ascii_letters + string.digits + "/-_.?=&", max_size=60),
    ),
    st.builds(
        lambda kind, sub: f"{kind}/{sub}",
        st.sampled_from(["image", "audio", "video", "application", "text"]),
        st.text(alphabet=string.ascii_lowercase + string.digits + ".+-", min_size=1, max_size=20),
    ),
)


@PROPERTIES
@given(
    st.lists(media_refs, max_size=MAX_MEDIA + 3),
    st.sampled_from(["{}", " {} ", "0{}", "000{}"]),
)
def test_media_count_matches(media, count_format):
    form = MultiDict(twilio_params("+447911123456", "", media=media))
    form["NumMedia"] = count_format.format(len(media))
    try:
        payload = parse(form, MAX_BODY, MAX_MEDIA)
    except PayloadError as exc:
        assert len(media) > MAX_MEDIA
        assert str(exc) == f"NumMedia is more than {MAX_MEDIA}"
        return
    assert len(media) <= MAX_MEDIA
    assert len(payload.media) == len(media)
    assert [(m.url, m.content_type) for m in payload.media] == [
        (url.strip(), kind.lower()) for url, kind in media
    ]


@PROPERTIES
@given(st.text(max_size=300), st.integers(min_value=0, max_value=3))
def test_body_keeps_everything_but_nul(body, nuls):
    sent = "\x00" * nuls + body + "\x00" * nuls
    form = MultiDict(twilio_params("+447911123456", sent))
    payload = parse(form, MAX_BODY, MAX_MEDIA)
    assert payload.body == sent.replace("\x00", "")


def test_body_over_the_limit_is_413_whatever_it_holds():
    form = MultiDict(twilio_params("+447911123456", "\x00" * (MAX_BODY + 1)))
    with pytest.raises(PayloadError) as refused:
        parse(form, MAX_BODY, MAX_MEDIA)
    assert refused.value.status == 413


# --------------------------------------------------------------------------- end to end

_sids = itertools.count(1)
bodies = st.text(max_size=400) | st.text(
    alphabet="\x00\r\n\t <>&'\"%+=;é€🙂STOPstop123", max_size=60
)
senders = st.sampled_from(
    ["+447911123456", "whatsapp:+447911123457", "+48512345678", "ACME", "+1", ""]
) | st.text(max_size=20)
tos = st.sampled_from([SMS_NUMBER, WHATSAPP_NUMBER, "+441632960999"]) | st.text(max_size=10)
num_media = st.sampled_from(["0", "", "1", "x", "00"])


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, sender=senders, to=tos, media_count=num_media)
def test_signed_webhook_never_500s_and_stores_the_body_as_sent(
    app, client, body, sender, to, media_count
):
    # The app and its client are built once for all examples; every example has its own SID.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    sid = f"SM{next(_sids):032x}"
    params = twilio_params(sender, body, to=to, sid=sid)
    params["NumMedia"] = media_count

    response = signed_post(client, "/webhooks/twilio/messages", params)

    assert response.status_code in {200, 400, 413}, response.get_data(as_text=True)[:1000]
    with app.app_context():
        stored = db.session.scalars(
            select(InboundMessage).where(InboundMessage.message_sid == sid)
        ).all()
        db.session.remove()
    if response.status_code != 200:
        assert stored == []
        return
    [message] = stored
    if message.erased_at is not None:  # the body was FORGET (in some language): erased
        assert message.body is None
        return
    assert message.body == body.replace("\x00", "")
