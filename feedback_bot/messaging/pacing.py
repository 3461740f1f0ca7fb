"""When a message may go: quiet hours in the member's own time, and the sender's rate.

Quiet hours apply to what the member did not just ask for (a decision, an interim update,
the rating question); replies to their own message go at once. The send rate is shared
by every worker through Redis, so ten workers together still respect Twilio's limit.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from flask import current_app
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ..logs import mask_digits

UTC = ZoneInfo("UTC")


def member_timezone(address: str) -> ZoneInfo:
    """The member's time zone from their number (the first one for a multi-zone country)."""
    try:
        number = phonenumbers.parse(address.removeprefix("whatsapp:"))
    except phonenumbers.NumberParseException:
        return UTC
    from phonenumbers import timezone as number_timezones

    for name in number_timezones.time_zones_for_number(number):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return UTC


def quiet_until(address: str, now: datetime) -> datetime | None:
    """When quiet hours end for this member, or None if it is not quiet now."""
    start = current_app.config["QUIET_HOURS_START"]
    end = current_app.config["QUIET_HOURS_END"]
    if start == end:
        return None
    local = now.astimezone(member_timezone(address))
    overnight = start > end
    quiet = (local.hour >= start or local.hour < end) if overnight else start <= local.hour < end
    if not quiet:
        return None
    wake = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if wake <= local:
        wake += timedelta(days=1)
    return wake.astimezone(UTC)


@cache
def _limiter(storage_url: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(storage_from_string(storage_url))


def limits_storage_url(redis_url: str) -> str:
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url


def rate_item(per_second: float) -> RateLimitItem:
    if per_second >= 1 and float(per_second).is_integer():
        return parse(f"{int(per_second)}/second")
    return parse(f"{max(int(per_second * 60), 1)}/minute")


def wait_for_send_slot(max_wait: float = 5.0) -> bool:
    """Block until the shared send rate allows one more message; False if it did not."""
    config = current_app.config
    limiter = _limiter(limits_storage_url(config["REDIS_URL"]))
    item = rate_item(float(config["SEND_RATE_PER_SECOND"]))
    deadline = time.monotonic() + max_wait
    while not limiter.hit(item, "twilio-sender"):
        if time.monotonic() > deadline:
            return False
        time.sleep(min(0.02, 1 / max(item.amount, 1)))
    return True


def describe(address: str) -> str:
    return mask_digits(address)
