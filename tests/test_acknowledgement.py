"""An accepted message gets exactly one acknowledgement, in the member's language."""

from __future__ import annotations

from sqlalchemy import select

from feedback_bot.extensions import db
from feedback_bot.models import Contact, FeedbackItem, InboundMessage

from .conftest import SMS_NUMBER, drain, outbound, send_sms

MEMBER = "+447911123456"


def test_text_is_stored_and_acknowledged_once(app, client, fake_twilio):
    text = "The lift in Block C has been broken for two weeks."
    response = send_sms(client, MEMBER, text, process=False)

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.get_data(as_text=True).strip().endswith("<Response />")
    assert fake_twilio.messages == []  # the webhook never calls Twilio itself
    with app.app_context():
        # The webhook only stored it, sender encrypted, and left the rest to its job.
        message = db.session.scalars(select(InboundMessage)).one()
        assert (message.disposition, message.body, message.contact_id) == ("received", text, None)
        assert message.pending_payload and MEMBER not in message.pending_payload
        assert db.session.scalars(select(Contact)).all() == []
        db.session.remove()

    drain(app)

    [sent] = fake_twilio.messages
    assert sent["to"] == MEMBER
    assert sent["from"] == SMS_NUMBER
    assert "A person will read it" in sent["body"]
    assert "Reply STOP to stop" in sent["body"]
    assert sent["status_callback"] == "https://feedback.example.org/webhooks/twilio/status"
    [row] = outbound(app)
    assert row.status == "queued"
    assert row.twilio_sid == sent["sid"]
    with app.app_context():
        item = db.session.scalars(select(FeedbackItem)).one()
        assert item.ref in sent["body"]
        message = db.session.scalars(select(InboundMessage)).one()
        assert message.body == text
        assert message.item_id == item.id
        assert (message.disposition, message.pending_payload) == ("feedback", None)
        contact = db.session.scalars(select(Contact)).one()
        assert contact.locale == "en"
        assert MEMBER not in (contact.phone_ciphertext or "")
