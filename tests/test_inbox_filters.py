"""Odd inbox filters: a value the inbox cannot use is no filter, never a server error.

Every role can open the inbox, and the bulk actions rebuild their way back to it from a
hidden field, so whatever a query string holds must answer a page.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feedback_bot import clock
from feedback_bot.admin.queries import InboxFilters
from feedback_bot.models import Role

from .conftest import send_sms
from .test_admin_items import ENGLISH, SPANISH, as_role, listed

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TOO_BIG_FOR_THE_DATABASE = str(2**31)

# Each of these failed the inbox with a 500 before: int("²") raises, a number past 32 bits
# overflows the query, and the day after date.max does not exist.
ODD_FILTERS = [
    {"topic": "²"},
    {"topic": "①"},
    {"topic": "9" * 23},
    {"topic": TOO_BIG_FOR_THE_DATABASE},
    {"topic": "1" * 5000},  # int() refuses this many digits
    {"to": date.max.isoformat()},
    {"to": "99991231"},
    {"from": date.max.isoformat(), "to": date.max.isoformat()},
    {"from": date.min.isoformat(), "to": date.min.isoformat()},
    {"from": "9999-W52-7"},  # a week date past year 9999
    {"status": "NEW"},
    {"status": "new\x00"},
    {"channel": "fax"},
    {"locale": "en\x00"},
    {"q": "lift\x00"},
    {"q": "\x00"},
    {"needs_translation": "²"},
]


def short(value: object) -> str:
    """A test id that stays readable when the value is 5,000 digits long."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@pytest.fixture
def item_ids(app: Flask, client: FlaskClient) -> list[int]:
    """Two items a day apart, newest first as the inbox lists them."""
    clock.freeze(T0)
    assert send_sms(client, ENGLISH, "The lift in Block C is broken.").status_code == 200
    clock.freeze(T0 + timedelta(days=1))
    assert send_sms(client, SPANISH, "Los contenedores no se vaciaron.").status_code == 200
    as_role(app, client, Role.INTERPRETER)  # the least trusted role can open the inbox
    ids = listed(client)
    assert len(ids) == 2
    return ids


@pytest.mark.parametrize("args", ODD_FILTERS, ids=short)
def test_an_odd_filter_answers_the_page(client: FlaskClient, item_ids: list[int], args) -> None:
    response = client.get("/admin/items", query_string=args)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "args",
    [
        {"topic": "²"},
        {"topic": TOO_BIG_FOR_THE_DATABASE},
        {"topic": "9" * 23},
        {"to": date.max.isoformat()},
        {"from": date.min.isoformat()},
        {"status": "bogus", "channel": "fax"},
    ],
    ids=short,
)
def test_an_unusable_or_boundless_filter_filters_nothing(
    client: FlaskClient, item_ids: list[int], args
) -> None:
    assert listed(client, **args) == item_ids


def test_the_last_day_there_is_still_bounds_from_below(
    client: FlaskClient, item_ids: list[int]
) -> None:
    newest, oldest = item_ids
    assert listed(client, **{"from": "2026-03-03", "to": date.max.isoformat()}) == [newest]
    assert listed(client, **{"from": date.min.isoformat(), "to": "2026-03-02"}) == [oldest]


@pytest.mark.parametrize(
    "topic",
    ["²", "٣", "①", "-1", "0", " 1", "1.0", TOO_BIG_FOR_THE_DATABASE, "9" * 23, "1" * 5000],
    ids=short,
)
def test_only_a_32_bit_positive_ascii_number_is_a_topic(topic: str) -> None:
    assert InboxFilters.from_args({"topic": topic}).topic_id is None


def test_the_largest_id_is_still_a_topic() -> None:
    assert InboxFilters.from_args({"topic": str(2**31 - 1)}).topic_id == 2**31 - 1


def test_free_text_filters_lose_nul_characters() -> None:
    # PostgreSQL refuses NUL in a query parameter: kept, it would fail the page there.
    filters = InboxFilters.from_args({"q": " lift\x00 ", "locale": "e\x00n"})
    assert (filters.q, filters.locale) == ("lift", "en")


@pytest.mark.parametrize(
    "back", ["topic=²", "topic=" + "9" * 23, "to=9999-12-31&topic=²", "page=²&topic=%00"], ids=short
)
def test_the_bulk_form_goes_back_to_an_inbox_that_answers(
    app: Flask, client: FlaskClient, item_ids: list[int], back: str
) -> None:
    client.post("/logout")
    as_role(app, client, Role.STAFF)
    response = client.post(
        "/admin/items/bulk", data={"item_ids": item_ids, "action": "triage", "back": back}
    )
    assert response.status_code == 302
    assert client.get(response.headers["Location"]).status_code == 200
