"""A voice note in real Chromium: sent from the phone simulator, played back by staff.

The simulator attaches a WAV file; the real media job fetches it from the simulator's media
URL on the live server into our storage; the member is acknowledged for a voice note; staff
hear it on the item page through the authenticated media route, and nobody else gets it.
"""

from __future__ import annotations

import io
import math
import re
import struct
import wave

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from feedback_bot.extensions import db
from feedback_bot.media.storage import media_root
from feedback_bot.messaging.templates import render
from feedback_bot.models import (
    FeedbackItem,
    InboundMedia,
    OutboundMessage,
    OutboundStatus,
    Role,
)

from .browser import (
    new_page,
    screenshot,
    sign_in,
)
from .conftest import drain
from .test_auth import PASSWORD, create_user

MEMBER = "+447911123456"  # the simulator's default number
WHATSAPP_MEMBER = "whatsapp:" + MEMBER
ACK_VOICE = "ack_voice"  # the outbox kind of a voice note's acknowledgement


def voice_note_wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A small valid WAV: mono, 16-bit PCM, a quiet 440 Hz tone (so the bytes are not all zero)."""
    frames = b"".join(
        struct.pack("<h", int(2000 * math.sin(2 * math.pi * 440 * n / rate)))
        for n in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


VOICE = voice_note_wav()

# In the page: load the <audio> element and wait for its metadata (or its error).
LOAD_AUDIO = """audio => new Promise(resolve => {
  const done = () => resolve({
    readyState: audio.readyState,
    duration: audio.duration,
    error: audio.error ? audio.error.code : null,
    src: audio.currentSrc,
  });
  audio.addEventListener("loadedmetadata", done, { once: true });
  audio.addEventListener("error", done, { once: true });
  audio.load();
})"""

# In the page: fetch the audio's source as the page would, and return what came back.
FETCH_SOURCE = """async audio => {
  const response = await fetch(audio.src, { credentials: "same-origin" });
  const bytes = new Uint8Array(await response.arrayBuffer());
  return {
    status: response.status,
    type: response.headers.get("Content-Type"),
    url: response.url,
    bytes: Array.from(bytes),
  };
}"""


@pytest.fixture
def app(make_app, tmp_path) -> Flask:
    # The simulator on, with the fake Twilio from conftest kept: replies reach fake_twilio.
    return make_app(
        SIMULATOR_ENABLED=True,
        SIMULATOR_MEDIA_DIR=str(tmp_path / "simulator-media"),
        WTF_CSRF_ENABLED=True,
        QUIET_HOURS_START=0,
        QUIET_HOURS_END=0,
    )


@pytest.mark.browser
def test_voice_note_from_the_simulator_reaches_staff_only(app, live_server, chromium, fake_twilio):
    # ---- the member: WhatsApp, a voice note and no text
    phone = new_page(chromium, live_server.url)
    phone.goto("/simulator/")
    phone.check('input[name="channel"][value="whatsapp"]')
    expect(phone.locator("#subtitle")).to_contain_text("WhatsApp")
    expect(phone.locator("#number")).to_have_value(MEMBER)
    phone.set_input_files(
        "#media", files=[{"name": "voice-note.wav", "mimeType": "audio/wav", "buffer": VOICE}]
    )
    expect(phone.locator("#attachment-name")).to_contain_text("voice-note.wav")
    with phone.expect_response(re.compile(r"/simulator/send$")) as answer:
        phone.click("#send")
    sent = answer.value
    assert sent.status == 200, sent.text()
    reply = sent.json()
    assert (reply["ok"], reply["channel"], reply["disposition"]) == (True, "whatsapp", "feedback")
    ref = reply["ref"]
    expect(phone.locator("#send-error")).to_be_hidden()

    # ---- the worker: fetch the file from the simulator's URL, acknowledge the voice note
    drain(app)
    with app.app_context():
        media = db.session.scalars(select(InboundMedia)).one()
        assert media.fetch_error is None, f"{media.source_url}: {media.fetch_error}"
        assert media.storage_path, f"not fetched from {media.source_url}"
        assert media.source_url.startswith(live_server.url + "/simulator/media/")
        assert media.content_type == "audio/wav"
        assert media.size_bytes == len(VOICE)
        assert (media_root() / media.storage_path).read_bytes() == VOICE
        media_id = media.id
        item = db.session.scalars(select(FeedbackItem)).one()
        assert item.ref == ref
        item_id = item.id
        expected_ack = render(
            "ack_voice", item.locale, ref=ref, days=app.config["INTERIM_UPDATE_DAYS"]
        )
        rows = db.session.scalars(
            select(OutboundMessage).where(OutboundMessage.item_id == item_id)
        ).all()
        assert [row.kind for row in rows] == [ACK_VOICE]
        assert rows[0].status in OutboundStatus.ACCEPTED_BY_TWILIO
        ack_sid = rows[0].twilio_sid
        db.session.remove()
    [ack] = fake_twilio.messages_to(WHATSAPP_MEMBER)
    assert ack["sid"] == ack_sid
    assert ack["body"] == expected_ack
    assert "voice note" in ack["body"] and ref in ack["body"]
    # The simulator's phone shows the acknowledgement as it polls.
    expect(phone.locator('.message.them[data-kind="ack_voice"]')).to_contain_text(ref)
    expect(phone.locator(".message.me audio")).to_have_count(1)
    screenshot(phone, "media-1-simulator")

    # ---- staff: the item page plays the voice note from our own storage
    create_user(app, Role.STAFF)
    staff = new_page(chromium, live_server.url)
    sign_in(staff, "staff@example.org", PASSWORD)
    staff.goto(f"/admin/items/{item_id}")
    expect(staff.locator("h1 .ref")).to_have_text(ref)
    audio = staff.locator(".timeline .inbound audio")
    expect(audio).to_have_count(1)
    media_path = f"/admin/media/{media_id}"
    expect(audio).to_have_attribute("src", media_path)
    loaded = audio.evaluate(LOAD_AUDIO)
    assert loaded["error"] is None, loaded
    assert loaded["readyState"] >= 1, loaded  # HAVE_METADATA: Chromium decoded the header
    assert loaded["src"] == live_server.url + media_path
    assert loaded["duration"] == pytest.approx(len(VOICE[44:]) / 2 / 8000, abs=0.01)
    fetched = audio.evaluate(FETCH_SOURCE)
    assert (fetched["status"], fetched["url"]) == (200, live_server.url + media_path)
    assert fetched["type"].startswith("audio/wav")
    assert bytes(fetched["bytes"]) == VOICE
    screenshot(staff, "media-2-item")

    # ---- anonymous: a fresh context without a session gets the login page, never the bytes
    anonymous = new_page(chromium, live_server.url)
    refused = anonymous.request.get(media_path, max_redirects=0)
    assert refused.status == 302
    assert re.search(r"/login\?next=", refused.headers["location"])
    assert refused.body() != VOICE
    landed = anonymous.goto(media_path)
    assert landed is not None and landed.status == 200
    expect(anonymous).to_have_url(re.compile(r"/login\?next="))
    expect(anonymous.locator('input[name="password"]')).to_be_visible()
    assert landed.body() != VOICE
