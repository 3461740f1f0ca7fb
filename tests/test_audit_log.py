"""The audit log reads as what happened, naming what staff know, and never a member's number."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import event, select

from feedback_bot.extensions import db
from feedback_bot.models import (
    AuditEntry,
    Contact,
    Decision,
    FeedbackItem,
    InboundMessage,
    Role,
    Topic,
    User,
)
from feedback_bot.privacy import mask_phone
from feedback_bot.refs import encode_ref

from .conftest import drain, send_sms
from .test_admin_items import as_role
from .test_auth import create_user

ENGLISH = "+447911123456"
POLISH = "+48512345678"


def write_in(app: Flask, client, number: str, text: str) -> int:
    send_sms(client, number, text)
    drain(app)
    with app.app_context():
        return db.session.scalars(select(FeedbackItem.id).order_by(FeedbackItem.id.desc())).first()


def audit_page(client, **args) -> str:
    response = client.get("/admin/audit", query_string=args)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def summaries(html: str) -> list[str]:
    """Each entry's sentence, newest first, its markup kept (links are part of it)."""
    return re.findall(r"<span data-summary>(.*?)</span>", html)


def test_each_entry_says_what_happened_to_what_staff_know(app, client):
    lift = write_in(app, client, ENGLISH, "The lift is broken again.")
    lights = write_in(app, client, POLISH, "Nie działa oświetlenie na naszej ulicy.")
    as_role(app, client, Role.ADMIN)
    client.post(f"/admin/items/{lift}/tag", data={"new_topic": "Lifts"})
    response = client.post(
        "/admin/decisions/new", data={"title": "Fix the lift", "outcome": "adopted"}
    )
    decision_id = int(response.headers["Location"].rsplit("/", 1)[1])
    client.post(f"/admin/items/{lift}/link", data={"decision_id": decision_id})
    client.post(
        f"/admin/decisions/{decision_id}/edit",
        data={"title": "Repair the lift", "outcome": "partly_adopted", "summary": ""},
    )
    client.post(
        f"/admin/items/{lights}/close",
        data={"reason": "Not ours: the county's", "confirmed": "yes"},
    )
    revealed = client.post(f"/admin/items/{lights}/reveal").get_data(as_text=True)
    assert POLISH in revealed  # shown once, there
    with app.app_context():
        contact_id = db.session.get(FeedbackItem, lights).contact_id
        topic_id = db.session.scalars(select(Topic.id)).one()

    html = audit_page(client)
    lift_link = f'<a href="/admin/items/{lift}">{encode_ref(lift)}</a>'
    lights_link = f'<a href="/admin/items/{lights}">{encode_ref(lights)}</a>'
    decision_link = f'“<a href="/admin/decisions/{decision_id}">Repair the lift</a>”'
    assert summaries(html) == [
        f"Revealed the phone number of {Contact.label_of(contact_id)}, on {lights_link}.",
        f"Closed {lights_link} as no action.",
        f"Edited {decision_link}: changed the title and the outcome.",
        f"Linked {lift_link} to {decision_link} (then “Fix the lift”).",
        f"Created the decision {decision_link} (then “Fix the lift”).",
        f"Tagged {lift_link} “Lifts”.",
        "Created the topic “Lifts”.",
        "Signed in.",
    ]
    # The details the sentence does not say, readably; no JSON, no bare ids.
    assert "<dt>Reason:</dt> <dd>Not ours: the county’s</dd>" in html.replace("&#39;", "’")
    assert "<dt>Title before:</dt> <dd>Fix the lift</dd>" in html
    assert "<dt>Outcome before:</dt> <dd>Adopted</dd>" in html
    assert "{&#34;" not in html and "&#34;:" not in html
    for bare in (f"item {lift}", f"decision {decision_id}", f"topic {topic_id}", "user 1"):
        assert bare not in html
    # The number was revealed, never recorded: the log cannot show it, whole or masked.
    assert POLISH not in html and POLISH[1:] not in html and mask_phone(POLISH) not in html
    assert "<code>contact.reveal</code>" in html  # the action, for the filter


def test_accounts_languages_templates_and_translations_are_named(app, client):
    item_id = write_in(app, client, POLISH, "Nie działa oświetlenie na naszej ulicy.")
    as_role(app, client, Role.ADMIN)
    staff_id = create_user(app, Role.STAFF, email="sam@example.org")
    with app.app_context():
        message_id = db.session.scalars(select(InboundMessage.id)).one()
        db.session.add_all(
            [
                AuditEntry(
                    action="translation.feedback",
                    target_type="inboundmessage",
                    target_id=message_id,
                    detail={"locale": "en", "state": "needs_review"},
                ),
                AuditEntry(action="export.items", detail={"rows": 1, "from": "2026-11-01"}),
                AuditEntry(
                    action="user.role_change",
                    target_type="user",
                    target_id=staff_id,
                    detail={"before": "staff", "after": "admin"},
                ),
                AuditEntry(
                    action="user.languages",
                    target_type="user",
                    target_id=staff_id,
                    detail={"before": "", "after": "pl,uk"},
                ),
                AuditEntry(action="language.enable", detail={"code": "pl"}),
                AuditEntry(
                    action="whatsapp_template.save",
                    target_type="whatsapptemplate",
                    target_id=3,
                    detail={"kind": "rating_question", "locale": "pl", "content_sid": "HX12ab"},
                ),
                AuditEntry(
                    action="user.password_set",
                    target_type="user",
                    target_id=staff_id,
                    detail={"via": "cli"},
                ),
            ]
        )
        db.session.commit()

    html = audit_page(client)
    ref = f'<a href="/admin/items/{item_id}">{encode_ref(item_id)}</a>'
    assert summaries(html)[:7] == [
        "Set a new password for sam@example.org.",
        "Saved the WhatsApp template for “Did we listen?” in Polski (pl).",
        "Offered Polski (pl) to members.",
        "Changed the languages of sam@example.org from none to Polski (pl), Українська (uk).",
        "Changed the role of sam@example.org from staff to admin.",
        "Downloaded the feedback items as a spreadsheet (1 row).",
        f"Translated a message of {ref} into English (en).",
    ]
    assert "<dt>Done from:</dt> <dd>the command line</dd>" in html
    assert "<dt>Content SID:</dt> <dd>HX12ab</dd>" in html
    assert "<dt>Review state:</dt> <dd>Needs review</dd>" in html
    assert "<dt>Received from:</dt> <dd>2026-11-01</dd>" in html
    assert "Nie działa" not in html  # what the member wrote is not the log's


def test_what_no_longer_exists_is_named_without_a_link(app, client):
    as_role(app, client, Role.ADMIN)
    with app.app_context():
        db.session.add_all(
            [
                AuditEntry(
                    action="item.link",
                    target_type="feedbackitem",
                    target_id=4242,
                    detail={
                        "decision_id": 77,
                        "decision": "Old plans",
                        "previous_decision_id": None,
                    },
                ),
                AuditEntry(
                    action="something.new", target_type="widget", target_id=5, detail={"size": 3}
                ),
            ]
        )
        db.session.commit()

    html = audit_page(client)
    assert summaries(html)[:2] == [
        "something.new on a widget",
        f"Linked {encode_ref(4242)} to “Old plans”.",
    ]
    assert "/admin/items/4242" not in html and "/admin/decisions/77" not in html
    assert "<dt>Size:</dt> <dd>3</dd>" in html


def test_the_filter_names_actions_and_still_filters(app, client):
    as_role(app, client, Role.ADMIN)
    item_id = write_in(app, client, ENGLISH, "The lift is broken again.")
    client.post(f"/admin/items/{item_id}/triage")

    html = audit_page(client, action="item.triage")
    assert '<option value="item.triage" selected>Item marked triaged (item.triage)</option>' in html
    assert '<option value="auth.login" >Signed in (auth.login)</option>' in html
    assert summaries(html) == [
        f'Marked <a href="/admin/items/{item_id}">{encode_ref(item_id)}</a> triaged.'
    ]


def test_a_page_names_what_it_refers_to_in_a_fixed_number_of_queries(app, client):
    """One query per kind of row the page names, however many entries name them."""
    as_role(app, client, Role.ADMIN)

    def add_entries(count: int) -> None:
        with app.app_context():
            admin_id = db.session.scalars(select(User.id).where(User.role == Role.ADMIN)).one()
            for number in range(count):
                item = FeedbackItem(channel="sms", locale="en")
                decision = Decision(title=f"Decision {number}")
                topic = Topic(name=f"Topic {number} of {count}")
                user = User(email=f"user{number}-{count}@example.org", role=Role.STAFF)
                user.set_password("a long enough password")
                db.session.add_all([item, decision, topic, user])
                db.session.flush()
                db.session.add_all(
                    [
                        AuditEntry(
                            user_id=admin_id,
                            action="item.link",
                            target_type="feedbackitem",
                            target_id=item.id,
                            detail={"decision_id": decision.id, "decision": decision.title},
                        ),
                        AuditEntry(
                            user_id=admin_id,
                            action="item.tag",
                            target_type="feedbackitem",
                            target_id=item.id,
                            detail={"topic_id": topic.id, "topic": topic.name},
                        ),
                        AuditEntry(
                            user_id=admin_id,
                            action="user.activate",
                            target_type="user",
                            target_id=user.id,
                        ),
                    ]
                )
            db.session.commit()

    def statements_for_a_page() -> int:
        statements: list[str] = []

        def count(conn, cursor, statement, *args) -> None:
            statements.append(statement)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            audit_page(client)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    add_entries(2)
    audit_page(client)  # what each process loads once (the languages offered) is loaded
    few = statements_for_a_page()
    add_entries(15)  # 45 entries more: the first page is full
    assert statements_for_a_page() == few
    html = audit_page(client)
    assert len(summaries(html)) == 50
    assert 'Linked <a href="/admin/items/' in html and "Decision 14</a>”." in html
