"""Triage: the inbox and its filters, an item's timeline, numbers, topics, bulk actions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from feedback_bot import clock
from feedback_bot.admin import DELIVERY_LABELS, routes_items
from feedback_bot.extensions import db
from feedback_bot.models import (
    Contact,
    Decision,
    FeedbackItem,
    InboundMedia,
    ItemStatus,
    Role,
    Topic,
)
from feedback_bot.refs import decode_ref, encode_ref

from .conftest import drain, outbound, send_sms
from .test_auth import audit_entries, create_user, sign_in

ENGLISH = "+447911123456"
POLISH = "+48512345678"
SPANISH = "+34612345678"
MASKED = {ENGLISH: "+44 •••• ••34 56", POLISH: "+48 •••• ••56 78", SPANISH: "+34 •••• ••56 78"}
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

LIFT = "The lift in Block C has been broken for two weeks."
LIGHTS = "Dzień dobry, na naszej ulicy od dwóch tygodni nie działa oświetlenie uliczne."
LIBRARY = "La biblioteca cierra demasiado pronto los sábados, por favor ábranla más tarde."


@pytest.fixture
def items(app, client) -> dict[str, int]:
    """Three members: English by SMS on day 1, Polish an hour later, Spanish by WhatsApp a
    day later. Returns item ids by language."""
    clock.freeze(T0)
    assert send_sms(client, ENGLISH, LIFT).status_code == 200
    clock.freeze(T0 + timedelta(hours=1))
    assert send_sms(client, POLISH, LIGHTS).status_code == 200
    clock.freeze(T0 + timedelta(days=1))
    assert send_sms(client, "whatsapp:" + SPANISH, LIBRARY).status_code == 200
    with app.app_context():
        found = {item.locale: item.id for item in db.session.scalars(select(FeedbackItem))}
    assert set(found) == {"en", "pl", "es"}
    return found


def as_role(app: Flask, client, role: str):
    create_user(app, role)
    assert sign_in(client, f"{role}@example.org").status_code == 302
    return client


def listed(client, **args) -> list[int]:
    """Item ids the inbox shows for ``args``, in page order."""
    response = client.get("/admin/items", query_string=args)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return [int(found) for found in re.findall(r'data-item="(\d+)"', html)]


def item_state(app: Flask, item_id: int) -> FeedbackItem:
    with app.app_context():
        item = db.session.get(FeedbackItem, item_id)
        item.topics  # load before leaving the session  # noqa: B018
        db.session.expunge_all()
        return item


# ------------------------------------------------------------------------------ inbox


def test_inbox_is_newest_first_with_pseudonym_and_masked_number(app, client, items):
    as_role(app, client, Role.STAFF)
    assert listed(client) == [items["es"], items["pl"], items["en"]]
    html = client.get("/admin/items").get_data(as_text=True)
    with app.app_context():
        labels = [contact.label for contact in db.session.scalars(select(Contact))]
    for label in labels:
        assert label in html
    for number, masked in MASKED.items():
        assert masked in html
        assert number not in html


def test_inbox_filters(app, client, items):
    as_role(app, client, Role.STAFF)
    client.post(f"/admin/items/{items['pl']}/triage")
    client.post(f"/admin/items/{items['en']}/tag", data={"new_topic": "Lifts"})
    with app.app_context():
        lifts = db.session.scalars(select(Topic)).one().id

    assert listed(client, status="triaged") == [items["pl"]]
    assert listed(client, status="new") == [items["es"], items["en"]]
    assert listed(client, locale="pl") == [items["pl"]]
    assert listed(client, channel="whatsapp") == [items["es"]]
    assert listed(client, channel="sms") == [items["pl"], items["en"]]
    assert listed(client, topic=lifts) == [items["en"]]
    assert listed(client, **{"from": "2026-03-03"}) == [items["es"]]
    assert listed(client, to="2026-03-02") == [items["pl"], items["en"]]
    assert listed(client, **{"from": "2026-03-02", "to": "2026-03-02"}) == [
        items["pl"],
        items["en"],
    ]
    assert listed(client, channel="sms", locale="en") == [items["en"]]
    assert listed(client, status="closed") == []
    # Dates the wrong way round match nothing, and the page says why.
    reversed_dates = {"from": "2026-03-03", "to": "2026-03-02"}
    assert listed(client, **reversed_dates) == []
    page = client.get("/admin/items", query_string=reversed_dates).get_data(as_text=True)
    assert "“From” (2026-03-03) is after “To” (2026-03-02)" in page
    assert "is after" not in client.get("/admin/items?status=closed").get_data(as_text=True)
    # Malformed filters are ignored rather than failing the page.
    assert len(listed(client, status="bogus", topic="x", **{"from": "yesterday"})) == 3


def test_inbox_search_over_message_text(app, client, items):
    as_role(app, client, Role.STAFF)
    # A second message from the same member within the window joins the same item.
    clock.freeze(T0 + timedelta(seconds=30))
    send_sms(client, ENGLISH, "Also the stairs are filthy.")

    assert listed(client, q="lift") == [items["en"]]
    assert listed(client, q="LIFT block") == [items["en"]]  # any case, every word
    assert listed(client, q="stairs") == [items["en"]]  # the later message counts too
    assert listed(client, q="oświetlenie") == [items["pl"]]
    assert listed(client, q="biblioteca") == [items["es"]]
    assert listed(client, q="lift biblioteca") == []
    assert listed(client, q="%") == []  # LIKE wildcards are searched for, not obeyed
    assert listed(client, q="_") == []
    assert listed(client, q="biblioteca", channel="sms") == []


def test_search_ignores_the_case_of_every_letter(app, client, items):
    """SQLite's own lower() knows A to Z only: "OŚWIETLENIE" did not find "oświetlenie"."""
    as_role(app, client, Role.STAFF)
    send_sms(client, "+380501234567", "Нічний автобус не приїжджає.")
    with app.app_context():
        ukrainian = db.session.scalars(
            select(FeedbackItem.id).where(FeedbackItem.locale == "uk")
        ).one()
    assert listed(client, q="OŚWIETLENIE") == [items["pl"]]
    assert listed(client, q="нічний") == [ukrainian]
    assert listed(client, q="НІЧНИЙ АВТОБУС") == [ukrainian]


def test_a_reference_is_found_as_members_quote_it(app, client, items):
    """Members quote the SMS ("Ref 1Q8B") and read a reference aloud (O for 0, I or L for
    1); a word with a digit in it is no word but a reference."""
    as_role(app, client, Role.STAFF)
    with app.app_context():
        db.session.add(FeedbackItem(id=decode_ref("H0T1"), channel="sms", locale="en"))
        db.session.commit()
    polish = encode_ref(items["pl"])
    for typed in (f"Ref {polish}", f"ref: {polish.lower()}", f"REF {polish}."):
        assert listed(client, q=typed) == [items["pl"]], typed
    for typed in ("H0T1", "h0tl", "HOT1", "H0TI"):
        assert listed(client, q=typed) == [decode_ref("H0T1")], typed
    # With no digit, it may be a word: "LIFT" is not 11FT (see the test below), nor "HOTI".
    assert listed(client, q="HOTI") == []
    # "Ref" before anything but a reference is a word to find like any other.
    assert listed(client, q="ref lift") == []


def test_a_word_is_not_read_as_a_reference(app, client, items):
    as_role(app, client, Role.STAFF)
    # Forgiving O, I and L, "lift" reads as the reference 11FT: once an item has that id,
    # a search for the word listed it too.
    unrelated = decode_ref("lift")
    assert unrelated is not None and encode_ref(unrelated) == "11FT"
    with app.app_context():
        db.session.add(FeedbackItem(id=unrelated, channel="sms", locale="en"))
        db.session.commit()

    assert listed(client, q="lift") == [items["en"]]
    assert listed(client, q="LIFT") == [items["en"]]
    # Its reference finds it, in capitals as shown, in any case, pasted with punctuation.
    for typed in ("11FT", "11ft", "(11FT)."):
        assert listed(client, q=typed) == [unrelated], typed
    assert listed(client, q=encode_ref(items["pl"]).lower()) == [items["pl"]]


def test_inbox_is_paginated_and_pages_keep_the_filters(app, client):
    with app.app_context():
        for number in range(30):
            db.session.add(
                FeedbackItem(
                    channel="sms",
                    locale="en",
                    status=ItemStatus.NEW,
                    created_at=T0 + timedelta(minutes=number),
                    last_message_at=T0,
                )
            )
        db.session.commit()
        ids = list(db.session.scalars(select(FeedbackItem.id).order_by(FeedbackItem.id)))
    as_role(app, client, Role.STAFF)

    first = listed(client, locale="en")
    second = listed(client, locale="en", page=2)
    assert first == list(reversed(ids))[:25]
    assert second == list(reversed(ids))[25:]
    html = client.get("/admin/items?locale=en").get_data(as_text=True)
    assert "Page 1 of 2" in html
    assert re.search(r'href="/admin/items\?(?=[^"]*page=2)(?=[^"]*locale=en)[^"]*"', html)
    past_the_end = client.get("/admin/items", query_string={"locale": "en", "page": "99"})
    assert past_the_end.headers["Location"] == "/admin/items?locale=en&page=2"


# ------------------------------------------------------------------------- item page


def test_item_page_shows_the_whole_timeline(app, client, items, fake_twilio):
    clock.freeze(T0 + timedelta(days=1, minutes=5))
    send_sms(
        client,
        ENGLISH,
        "Here is a photo and a voice note.",
        media=[
            (fake_twilio.add_media(b"\xff\xd8\xff\xe0 a photo", "image/jpeg"), "image/jpeg"),
            (fake_twilio.add_media(b"OggS a voice note", "audio/ogg"), "audio/ogg"),
        ],
    )
    drain(app)
    as_role(app, client, Role.STAFF)
    client.post(f"/admin/items/{items['en']}/tag", data={"new_topic": "Lifts"})
    client.post("/admin/decisions/new", data={"title": "Fix the lifts", "outcome": "adopted"})
    with app.app_context():
        decision_id = db.session.scalars(select(Decision.id)).one()
    client.post(f"/admin/items/{items['en']}/link", data={"decision_id": decision_id})
    with app.app_context():
        item = db.session.get(FeedbackItem, items["en"])
        item.rating, item.rated_at = "partly", T0 + timedelta(days=9)
        db.session.commit()

    html = client.get(f"/admin/items/{items['en']}").get_data(as_text=True)

    assert LIFT in html
    ack = next(row for row in outbound(app) if row.item_id == items["en"])
    assert ack.kind == "ack"
    assert "Acknowledgement" in html
    assert f'delivery-{ack.status}">{DELIVERY_LABELS[ack.status]}<' in html
    assert ack.body in html
    assert "Tagged “Lifts”" in html
    assert "Linked to decision “Fix the lifts”" in html
    assert f'href="/admin/decisions/{decision_id}" data-linked-decision>Fix the lifts<' in html
    assert "<strong>partly</strong>" in html
    # The media message went into a new item (the first was no longer new); its photo and
    # voice note are shown through the authenticated media route, never Twilio's URL.
    other = max(listed(client))
    media_html = client.get(f"/admin/items/{other}").get_data(as_text=True)
    with app.app_context():
        photo, voice = db.session.scalars(select(InboundMedia).order_by(InboundMedia.id)).all()
    assert f'<img class="media-photo" src="/admin/media/{photo.id}"' in media_html
    assert f'<audio controls preload="metadata" src="/admin/media/{voice.id}"' in media_html
    assert fake_twilio.base_url not in media_html
    assert client.get("/admin/items/999999").status_code == 404


def test_staff_pages_name_each_language_not_only_its_code(app, client, items):
    """A code alone ("pl", "uk") means little to staff: the inbox, its filter and an item's page
    say the language's own name, marked as written in it, with the code beside it."""
    drain(app)
    as_role(app, client, Role.STAFF)
    polish = '<span lang="pl" dir="ltr">Polski</span> (pl)'

    inbox = client.get("/admin/items").get_data(as_text=True)
    row = inbox.split(f'data-item="{items["pl"]}"', 1)[1].split("</tr>", 1)[0]
    assert f"<td>{polish}</td>" in row
    assert '<option value="pl" lang="pl" >Polski (pl)</option>' in inbox
    assert '<option value="es" lang="es" >Español (es)</option>' in inbox

    page = client.get(f"/admin/items/{items['pl']}").get_data(as_text=True)
    assert f"<dt>Language</dt><dd>{polish}</dd>" in page
    assert f"detected {polish}" in page  # the member's message
    assert f"Acknowledgement · {polish} ·" in page  # our answer to it


# --------------------------------------------------------------------------- numbers


def test_reveal_number_is_admin_only_and_audited(app, client, items):
    as_role(app, client, Role.STAFF)
    page = client.get(f"/admin/items/{items['pl']}").get_data(as_text=True)
    assert MASKED[POLISH] in page
    assert "Reveal number" not in page
    assert client.post(f"/admin/items/{items['pl']}/reveal").status_code == 403
    assert audit_entries(app, "contact.reveal") == []
    client.post("/logout")

    admin_id = create_user(app, Role.ADMIN)
    sign_in(client, "admin@example.org")
    page = client.get(f"/admin/items/{items['pl']}").get_data(as_text=True)
    assert "Reveal number" in page
    assert POLISH not in page

    revealed = client.post(f"/admin/items/{items['pl']}/reveal")
    assert revealed.status_code == 200
    assert f"data-revealed-number>{POLISH}<" in revealed.get_data(as_text=True)
    assert revealed.headers["Cache-Control"] == "no-store"
    [entry] = audit_entries(app, "contact.reveal")
    with app.app_context():
        contact_id = db.session.get(FeedbackItem, items["pl"]).contact_id
    assert (entry.user_id, entry.target_type, entry.target_id) == (admin_id, "contact", contact_id)
    assert entry.detail == {"item_id": items["pl"]}
    assert POLISH not in str(entry.detail)
    # Once: the next view is masked again.
    assert POLISH not in client.get(f"/admin/items/{items['pl']}").get_data(as_text=True)


def test_interpreter_never_sees_a_number(app, client, items):
    drain(app)
    as_role(app, client, Role.INTERPRETER)
    pages = [client.get("/admin/items"), client.get(f"/admin/items/{items['pl']}")]
    pages += [client.get("/admin/items", query_string={"q": "oświetlenie"})]
    with app.app_context():
        label = db.session.get(FeedbackItem, items["pl"]).contact.label
    for response in pages:
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert LIGHTS in html  # the page did render the feedback
        assert label in html
        for number, masked in MASKED.items():
            assert number not in html and number[1:] not in html
            assert masked not in html
        assert "••" not in html
        assert "Reveal number" not in html
        assert "/reveal" not in html
    assert client.post(f"/admin/items/{items['pl']}/reveal").status_code == 403


def test_interpreter_cannot_triage(app, client, items):
    as_role(app, client, Role.INTERPRETER)
    item_id = items["en"]
    assert client.post(f"/admin/items/{item_id}/tag", data={"new_topic": "X"}).status_code == 403
    assert client.post(f"/admin/items/{item_id}/triage").status_code == 403
    assert client.post(f"/admin/items/{item_id}/close", data={"reason": "no"}).status_code == 403
    response = client.post(
        "/admin/items/bulk", data={"item_ids": [item_id], "action": "close", "reason": "no"}
    )
    assert response.status_code == 403
    html = client.get(f"/admin/items/{item_id}").get_data(as_text=True)
    assert "Mark triaged" not in html and "Close as no action" not in html
    state = item_state(app, item_id)
    assert state.status == ItemStatus.NEW and state.topics == []
    assert audit_entries(app, "item.tag") == audit_entries(app, "item.close") == []


# ------------------------------------------------------------------ one item's actions


def test_a_topic_is_found_whatever_the_case_of_any_letter(app, client, items):
    """Not only A-Z: SQL's lower() leaves "Ś" alone, and tagging with "Śmieci" twice
    tried to create it twice (a 500)."""
    create_user(app, Role.STAFF)
    sign_in(client, "staff@example.org")
    for item_id, name in zip(items.values(), ("Śmieci", "Śmieci", "śMIECI "), strict=False):
        response = client.post(f"/admin/items/{item_id}/tag", data={"new_topic": name})
        assert response.status_code == 302
    with app.app_context():
        assert [topic.name for topic in db.session.scalars(select(Topic))] == ["Śmieci"]


def test_a_topic_name_is_words_with_single_spaces(app, client, items):
    """A zero-width space named an invisible topic ("Tagged “”"); "Bins  late" and "Bins
    late" were two."""
    create_user(app, Role.STAFF)
    sign_in(client, "staff@example.org")
    for name in ("\u200b", " \u2060\u200b "):
        client.post(f"/admin/items/{items['en']}/tag", data={"new_topic": name})
        assert flashed(client) == [("error", "Topic: Choose a topic or name a new one.")]
    names = ("Bins\u00a0 late", "bins\u200b late", " BINS LATE")
    for item_id, name in zip(items.values(), names, strict=True):
        client.post(f"/admin/items/{item_id}/tag", data={"new_topic": name})
    with app.app_context():
        assert [topic.name for topic in db.session.scalars(select(Topic))] == ["Bins late"]
    # The joiner Urdu and Persian write with stays.
    client.post(f"/admin/items/{items['en']}/tag", data={"new_topic": "نیم\u200cفاصله"})
    with app.app_context():
        assert "نیم\u200cفاصله" in db.session.scalars(select(Topic.name)).all()


def flashed(client: FlaskClient) -> list[tuple[str, str]]:
    """The messages waiting for the next page, as (category, message); taken, as that
    page would take them."""
    with client.session_transaction() as session:
        return [tuple(flash) for flash in session.pop("_flashes", [])]


def test_a_topic_typed_in_another_case_is_the_topic_and_says_when_nothing_changed(
    app, client, items
):
    create_user(app, Role.STAFF)
    sign_in(client, "staff@example.org")
    client.post(f"/admin/items/{items['en']}/tag", data={"new_topic": "Buses"})
    assert flashed(client) == [("success", "Tagged “Buses”.")]

    client.post(f"/admin/items/{items['pl']}/tag", data={"new_topic": "buses"})
    assert flashed(client) == [("success", "Tagged “Buses”.")]  # as it is spelled
    client.post(f"/admin/items/{items['en']}/tag", data={"new_topic": "BUSES"})
    assert flashed(client) == [("info", "Already tagged “Buses”; nothing changed.")]
    with app.app_context():
        [topic] = db.session.scalars(select(Topic)).all()
    client.post(f"/admin/items/{items['en']}/tag", data={"topic_id": topic.id})
    assert flashed(client) == [("info", "Already tagged “Buses”; nothing changed.")]

    bulk = {"action": "tag", "new_topic": "buses", "back": ""}
    client.post("/admin/items/bulk", data={**bulk, "item_ids": list(items.values())})
    assert flashed(client) == [("success", "Tagged 1 item(s) with “Buses”. 2 already had it.")]
    client.post("/admin/items/bulk", data={**bulk, "item_ids": [items["en"], items["pl"]]})
    assert flashed(client) == [("info", "All 2 items already had “Buses”; nothing changed.")]
    client.post("/admin/items/bulk", data={**bulk, "item_ids": [items["es"]]})
    assert flashed(client) == [("info", "The item already had “Buses”; nothing changed.")]
    for item_id in items.values():
        assert [t.name for t in item_state(app, item_id).topics] == ["Buses"]
    assert len(audit_entries(app, "item.tag")) == 3


def test_tagging_creates_topics_inline_reuses_them_and_is_audited(app, client, items):
    staff_id = create_user(app, Role.STAFF)
    sign_in(client, "staff@example.org")

    client.post(f"/admin/items/{items['en']}/tag", data={"new_topic": "Lifts"})
    client.post(f"/admin/items/{items['pl']}/tag", data={"new_topic": " lifts "})
    with app.app_context():
        [topic] = db.session.scalars(select(Topic)).all()
        topic_id = topic.id
    assert topic.name == "Lifts"
    client.post(f"/admin/items/{items['es']}/tag", data={"topic_id": topic_id})
    # Tagging twice changes nothing.
    client.post(f"/admin/items/{items['es']}/tag", data={"topic_id": topic_id})

    for item_id in items.values():
        assert [t.name for t in item_state(app, item_id).topics] == ["Lifts"]
    assert len(audit_entries(app, "topic.create")) == 1
    tags = audit_entries(app, "item.tag")
    assert sorted(entry.target_id for entry in tags) == sorted(items.values())
    assert all(e.user_id == staff_id and e.detail["topic"] == "Lifts" for e in tags)

    client.post(f"/admin/items/{items['es']}/topics/{topic_id}/remove")
    assert item_state(app, items["es"]).topics == []
    [untag] = audit_entries(app, "item.untag")
    assert untag.target_id == items["es"]

    # Neither a topic nor a name: refused, nothing changes.
    client.post(f"/admin/items/{items['es']}/tag", data={"topic_id": 0})
    assert item_state(app, items["es"]).topics == []


def test_mark_triaged_link_and_close_from_the_item_page(app, client, items):
    as_role(app, client, Role.STAFF)
    client.post(f"/admin/items/{items['en']}/triage")
    assert item_state(app, items["en"]).status == ItemStatus.TRIAGED
    assert [e.target_id for e in audit_entries(app, "item.triage")] == [items["en"]]

    client.post("/admin/decisions/new", data={"title": "Fix the lifts", "outcome": "adopted"})
    with app.app_context():
        decision_id = db.session.scalars(select(Decision.id)).one()
    client.post(f"/admin/items/{items['en']}/link", data={"decision_id": decision_id})
    state = item_state(app, items["en"])
    assert (state.decision_id, state.status) == (decision_id, ItemStatus.LINKED)
    [linked] = audit_entries(app, "item.link")
    assert (linked.target_id, linked.detail["decision_id"]) == (items["en"], decision_id)
    # Linking again to the same decision is not another action.
    client.post(f"/admin/items/{items['en']}/link", data={"decision_id": decision_id})
    assert len(audit_entries(app, "item.link")) == 1

    client.post(f"/admin/items/{items['es']}/close", data={"reason": ""})
    assert item_state(app, items["es"]).status == ItemStatus.NEW
    client.post(
        f"/admin/items/{items['es']}/close",
        data={"reason": "The library is county-run.", "confirmed": "yes"},
    )
    state = item_state(app, items["es"])
    assert (state.status, state.closed_reason) == (ItemStatus.CLOSED, "The library is county-run.")
    [closed] = audit_entries(app, "item.close")
    assert closed.detail == {"reason": "The library is county-run."}


def hrefs(html: str, marker: str) -> list[str]:
    """The ``href`` or ``action`` of each tag on the page with ``marker`` in it, unescaped."""
    return [
        unescape(url)
        for tag in re.findall(r"<(?:a|form)\b[^>]*>", html)
        if marker in tag
        for url in re.findall(r'(?:href|action)="([^"]*)"', tag)
    ]


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_an_item_opened_from_the_inbox_leads_back_to_it_as_it_was_left(
    app, client, items, monkeypatch
):
    """Filters, search and page survive the item's page and every action on it."""
    monkeypatch.setattr(routes_items, "PER_PAGE", 1)
    as_role(app, client, Role.STAFF)
    client.post("/admin/decisions/new", data={"title": "Fix the lifts", "outcome": "adopted"})
    with app.app_context():
        decision_id = db.session.scalars(select(Decision.id)).one()
    clock.freeze(T0 + timedelta(days=2))
    assert (
        send_sms(client, "+447912345678", "The lift in Block D is broken too.").status_code == 200
    )
    # New SMS feedback about the lift, one an inbox page: Block D's, then on page 2 ours.
    left = {"status": "new", "channel": "sms", "q": "lift", "page": "2"}
    inbox = client.get("/admin/items", query_string=left).get_data(as_text=True)
    [opened] = hrefs(inbox, 'class="ref"')
    assert urlsplit(opened).path == f"/admin/items/{items['en']}"

    def back_to_inbox(page_html: str) -> dict[str, str]:
        [url] = hrefs(page_html, "data-back-to-inbox")
        assert urlsplit(url).path == "/admin/items"
        return query_of(url)

    def after(response) -> str:
        """The item's page a POST on it leads to, which must still know the inbox."""
        assert response.status_code == 302, response.status_code
        assert urlsplit(response.headers["Location"]).path == f"/admin/items/{items['en']}"
        page_html = client.get(response.headers["Location"]).get_data(as_text=True)
        assert back_to_inbox(page_html) == left
        return page_html

    page = client.get(opened).get_data(as_text=True)
    assert back_to_inbox(page) == left
    [tag_url] = hrefs(page, "data-tag-form")
    page = after(client.post(tag_url, data={"new_topic": "Lifts"}))
    [link_url] = hrefs(page, "data-link-form")
    page = after(client.post(link_url, data={"decision_id": decision_id}))
    [close_url] = [url for url in hrefs(page, "<form") if "/close" in url]
    asked = client.post(close_url, data={"reason": "Not ours to fix."})
    assert asked.status_code == 200
    # The confirmation page: its Cancel (back to the reason as typed) and its button both
    # come back knowing the inbox.
    confirmed = re.search(r'<form method="post" action="([^"]+)"', asked.get_data(as_text=True))
    assert confirmed is not None
    cancelled = client.post(
        unescape(confirmed.group(1)), data={"reason": "Not ours to fix.", "keep_editing": "y"}
    )
    assert back_to_inbox(cancelled.get_data(as_text=True)) == left
    page = after(
        client.post(unescape(confirmed.group(1)), data={"reason": "Not ours.", "confirmed": "yes"})
    )
    assert item_state(app, items["en"]).status == ItemStatus.CLOSED
    # Linking reopens it.
    page = after(client.post(link_url, data={"decision_id": decision_id}))
    assert item_state(app, items["en"]).status == ItemStatus.LINKED
    [untag_url] = [url for url in hrefs(page, "<form") if "/topics/" in url]
    after(client.post(untag_url))
    assert item_state(app, items["en"]).topics == []

    # What ``back`` says is rebuilt from the filters it names, never passed on as it is.
    hostile = client.get(
        f"/admin/items/{items['en']}",
        query_string={"back": "next=https://elsewhere.example/&status=nonsense&page=3"},
    ).get_data(as_text=True)
    assert back_to_inbox(hostile) == {"page": "3"}
    assert "elsewhere.example" not in hostile
    # From the inbox as it first opens, the item's page goes back to just that.
    plain = client.get(f"/admin/items/{items['en']}").get_data(as_text=True)
    assert hrefs(plain, "data-back-to-inbox") == ["/admin/items"]


# ---------------------------------------------------------------------- bulk actions


def test_bulk_tag_link_and_close(app, client, items):
    as_role(app, client, Role.STAFF)
    picked = [items["en"], items["pl"]]
    back = "status=new&q=&page=1"

    response = client.post(
        "/admin/items/bulk",
        data={"item_ids": picked, "action": "tag", "new_topic": "Streets", "back": back},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/items?status=new"  # filters kept
    for item_id in picked:
        assert [t.name for t in item_state(app, item_id).topics] == ["Streets"]
    assert item_state(app, items["es"]).topics == []
    assert sorted(e.target_id for e in audit_entries(app, "item.tag")) == sorted(picked)

    client.post("/admin/decisions/new", data={"title": "Street repairs", "outcome": "adopted"})
    with app.app_context():
        decision_id = db.session.scalars(select(Decision.id)).one()
    client.post(
        "/admin/items/bulk", data={"item_ids": picked, "action": "link", "decision_id": decision_id}
    )
    for item_id in picked:
        state = item_state(app, item_id)
        assert (state.decision_id, state.status) == (decision_id, ItemStatus.LINKED)
    assert sorted(e.target_id for e in audit_entries(app, "item.link")) == sorted(picked)

    # Closing needs a reason: without one nothing happens.
    client.post("/admin/items/bulk", data={"item_ids": [items["es"]], "action": "close"})
    assert item_state(app, items["es"]).status == ItemStatus.NEW
    client.post(
        "/admin/items/bulk",
        data={
            "item_ids": [items["es"]],
            "action": "close",
            "reason": "Not ours to decide.",
            "confirmed": "yes",
        },
    )
    state = item_state(app, items["es"])
    assert (state.status, state.closed_reason) == (ItemStatus.CLOSED, "Not ours to decide.")
    assert [e.target_id for e in audit_entries(app, "item.close")] == [items["es"]]

    # Nothing selected: refused.
    before = len(audit_entries(app))
    client.post("/admin/items/bulk", data={"action": "triage"})
    assert len(audit_entries(app)) == before


def test_bulk_mark_triaged_only_moves_new_items(app, client, items):
    as_role(app, client, Role.STAFF)
    client.post(
        "/admin/items/bulk",
        data={
            "item_ids": [items["es"]],
            "action": "close",
            "reason": "Not ours.",
            "confirmed": "yes",
        },
    )
    client.post("/admin/items/bulk", data={"item_ids": list(items.values()), "action": "triage"})
    assert item_state(app, items["en"]).status == ItemStatus.TRIAGED
    assert item_state(app, items["pl"]).status == ItemStatus.TRIAGED
    assert item_state(app, items["es"]).status == ItemStatus.CLOSED
    assert len(audit_entries(app, "item.triage")) == 2


def test_inbox_offers_bulk_selection_to_staff_only(app, client, items):
    as_role(app, client, Role.STAFF)
    html = client.get("/admin/items").get_data(as_text=True)
    assert "data-select-all" in html
    assert html.count('name="item_ids"') == 3
    client.post("/logout")
    create_user(app, Role.INTERPRETER)
    sign_in(client, "interpreter@example.org")
    html = client.get("/admin/items").get_data(as_text=True)
    assert "data-select-all" not in html and 'name="item_ids"' not in html


@pytest.mark.parametrize("page", ["9" * 30, "-5", "0", "two", "1e9", ""])
@pytest.mark.parametrize("path", ["/admin/items", "/admin/audit"])
def test_any_page_argument_answers_a_page(app, client, items, path, page):
    """A page past the end leads to the last; nonsense is page 1; neither is ever a
    server error."""
    as_role(app, client, Role.ADMIN)
    response = client.get(path, query_string={"page": page})
    if page == "9" * 30:
        assert response.headers["Location"] == path  # one page, so the first
        response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    if path == "/admin/items":
        assert all(f'/admin/items/{item_id}"' in html for item_id in items.values())
