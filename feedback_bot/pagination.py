"""The ``?page=`` query argument, made safe for every paginated page."""

from __future__ import annotations

from collections.abc import Mapping

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
