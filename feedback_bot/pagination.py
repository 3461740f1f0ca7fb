"""The ``?page=`` query argument, made safe for every paginated page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import abort, redirect, request, url_for
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select

from .extensions import db

# Any page past the end is simply empty. Without a cap, ?page=<30 digits> overflows the
# OFFSET the database is asked for and the page fails instead.
MAX_PAGE = 100_000


def requested_page(args: Mapping[str, str]) -> int:
    """The page asked for: a whole number from 1 to MAX_PAGE; 1 for anything else."""
    try:
        page = int(args.get("page", "1"))
    except ValueError:
        return 1
    return min(max(page, 1), MAX_PAGE)


def paginate(query: Select[Any], per_page: int) -> Pagination:
    """The page of ``query`` that ``?page=`` asks for.

    A page past the last one (its items closed since the link was made, a number typed
    by hand) redirects to the last page, filters kept: an empty "Page 99 of 2" whose
    "Newer" link leads to page 98 helps nobody.
    """
    pagination = db.paginate(
        query, page=requested_page(request.args), per_page=per_page, error_out=False
    )
    last = max(pagination.pages, 1)
    if pagination.page > last:
        abort(redirect(same_page_numbered(last)))
    return pagination


def same_page_numbered(page: int) -> str:
    """This request's address with ``page`` in place of its ``?page=`` (none for 1)."""
    args: dict[str, Any] = {
        **request.args.to_dict(flat=False),
        **(request.view_args or {}),
        "page": page if page > 1 else None,
    }
    assert request.endpoint is not None  # a paginated page is a matched route
    return url_for(request.endpoint, **args)
