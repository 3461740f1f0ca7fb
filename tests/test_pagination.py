"""``?page=``: whatever is asked, a whole number from 1 to the cap."""

from __future__ import annotations

import pytest

from feedback_bot.pagination import MAX_PAGE, requested_page


@pytest.mark.parametrize(
    ("value", "page"),
    [
        (None, 1),
        ("", 1),
        ("3", 3),
        ("0", 1),
        ("-5", 1),
        ("two", 1),
        ("1.5", 1),
        ("9" * 30, MAX_PAGE),
        (" 7 ", 7),
    ],
)
def test_requested_page(value, page):
    args = {} if value is None else {"page": value}
    assert requested_page(args) == page
