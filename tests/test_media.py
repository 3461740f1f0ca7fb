"""Photos and voice notes: fetched into our storage, acknowledged, shown only to staff."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from feedback_bot.extensions import db
from feedback_bot.jobs.intake import process_inbound
from feedback_bot.jobs.sweep import sweep
from feedback_bot.media.fetch import source_request
from feedback_bot.media.storage import media_root
from feedback_bot.messaging.templates import render
from feedback_bot.models import FeedbackItem, InboundMedia, InboundMessage, User

from .conftest import ACCOUNT_SID, AUTH_TOKEN, drain, flush_redis, send_sms

MEMBER = "whatsapp:+447911123456"
VOICE = b"OggS\x00\x02" + bytes(range(256)) * 40


def log_in(app, client, role: str) -> None:
    with app.app_context():
        user = User(email=f"{role}@example.org", role=role, languages="ar")
        user.set_password("correct horse battery staple")
        db.session.add(user)
        db.session.commit()
    response = client.post(
        "/login", data={"email": f"{role}@example.org", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def send_voice_note(client, fake_twilio, content: bytes = VOICE, kind: str = "audio/ogg"):
    url = fake_twilio.add_media(content, kind)
    return send_sms(client, MEMBER, "", media=[(url, kind)])


def stored_media(app) -> InboundMedia:
    with app.app_context():
        media = db.session.scalars(select(InboundMedia)).one()
        db.session.expunge(media)
        return media


def test_voice_note_is_fetched_stored_and_acknowledged(app, client, fake_twilio):
    assert send_voice_note(client, fake_twilio).status_code == 200
    drain(app)

    media = stored_media(app)
    with app.app_context():
        assert (media_root() / media.storage_path).read_bytes() == VOICE
        item = db.session.scalars(select(FeedbackItem)).one()
        assert fake_twilio.messages[0]["body"] == render("ack_voice", "en", ref=item.ref, days=21)
    assert media.size_bytes == len(VOICE)
    assert media.storage_path.endswith(".oga") or media.storage_path.endswith(".ogg")


def test_media_route_refuses_anonymous_and_serves_staff(app, client, fake_twilio):
    send_voice_note(client, fake_twilio)
    drain(app)
    media = stored_media(app)

    anonymous = client.get(f"/admin/media/{media.id}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]

    log_in(app, client, "staff")
    with client.get(f"/admin/media/{media.id}") as response:
        assert response.status_code == 200
        assert response.data == VOICE
        assert response.mimetype == "audio/ogg"
        assert response.headers["Cache-Control"] == "private, no-store"
        assert response.headers["Content-Security-Policy"].startswith("sandbox;")
        assert "attachment" not in response.headers.get("Content-Disposition", "")
    with client.get(f"/admin/media/{media.id}", headers={"Range": "bytes=0-3"}) as partial:
        assert (partial.status_code, partial.data) == (206, b"OggS")


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'


def test_a_picture_that_can_hold_script_is_downloaded_in_a_sandbox(app, client, fake_twilio):
    """An SVG is an image to Twilio and a document to a browser: opened from the panel, it
    is a download, and sandboxed if the browser shows it anyway."""
    url = fake_twilio.add_media(SVG, "image/svg+xml")
    send_sms(client, MEMBER, "", media=[(url, "image/svg+xml")])
    drain(app)
    media = stored_media(app)

    log_in(app, client, "staff")
    with client.get(f"/admin/media/{media.id}") as response:
        assert (response.status_code, response.data) == (200, SVG)
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["Content-Security-Policy"].startswith("sandbox;")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_oversize_and_unwanted_types_are_not_kept(make_app, fake_twilio):
    app = make_app(MEDIA_MAX_BYTES=1000)
    client = app.test_client()
    send_voice_note(client, fake_twilio)
    drain(app)
    media = stored_media(app)
    assert media.storage_path is None
    assert "limit" in media.fetch_error
    assert media.next_fetch_at is None  # not retried


def test_credentials_go_only_to_twilio(app):
    with app.app_context():
        base = app.config["TWILIO_API_BASE_URL"]
        media_url = f"{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1"
        assert source_request(media_url) == (media_url, (ACCOUNT_SID, AUTH_TOKEN))
        _, auth = source_request("https://example.org/steal-my-credentials")
        assert auth is None


def test_sweeper_fetches_media_whose_job_was_lost(app, client, fake_twilio, redis_url):
    url = fake_twilio.add_media(VOICE, "audio/ogg")
    send_sms(client, MEMBER, "", media=[(url, "audio/ogg")], process=False)
    with app.app_context():
        [message] = db.session.scalars(select(InboundMessage)).all()
        process_inbound(message.id)  # the intake job, which enqueues the fetch ...
    flush_redis(redis_url)  # ... and Redis loses it
    with app.app_context():
        assert sweep()["media_enqueued"] == 1
    drain(app)
    assert stored_media(app).storage_path is not None


def test_forget_deletes_the_files(app, client, fake_twilio):
    send_voice_note(client, fake_twilio)
    drain(app)
    media = stored_media(app)
    with app.app_context():
        path = media_root() / media.storage_path
    assert path.exists()

    send_sms(client, MEMBER, "FORGET")
    drain(app)

    assert not path.exists()
    with app.app_context():
        assert db.session.scalars(select(InboundMedia)).all() == []


def test_forget_erases_translations_too(app, client, fake_twilio):
    from feedback_bot.interpreting.saving import save_message_translation
    from feedback_bot.models import InboundMessage, MessageTranslation

    send_sms(client, MEMBER, "Dźwig jest zepsuty.")
    drain(app)
    with app.app_context():
        message = db.session.scalars(select(InboundMessage)).one()
        save_message_translation(None, message, "en", "The lift is broken.", "Dźwig...")
    send_sms(client, MEMBER, "FORGET")
    drain(app)
    with app.app_context():
        assert db.session.scalars(select(MessageTranslation)).all() == []


def test_a_translation_saved_as_the_member_is_forgotten_is_refused(app, client, fake_twilio):
    """The interpreter's page was read before the FORGET; their save comes after it. It
    must not put back a translation of what the member asked us to erase."""
    from feedback_bot.interpreting.saving import MessageErased, save_message_translation
    from feedback_bot.models import MessageTranslation

    send_sms(client, MEMBER, "Dźwig jest zepsuty.")
    drain(app)
    with app.app_context():
        message = db.session.scalars(select(InboundMessage)).one()  # the page is read
        send_sms(client, MEMBER, "FORGET")
        drain(app)
        with pytest.raises(MessageErased):
            save_message_translation(None, message, "en", "The lift is broken.")
        assert db.session.scalars(select(MessageTranslation)).all() == []
