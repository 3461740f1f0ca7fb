"""When a message may go: quiet hours in the member's own time, and the sender's rate.

Quiet hours apply to what the member did not just ask for (a decision, an interim update,
the rating question); replies to their own message go at once. The send rate is one
schedule shared by every worker through Redis, so ten workers together still respect
Twilio's limit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from flask import current_app
from redis import Redis
from redis.commands.core import Script

from ..logs import mask_digits

UTC = ZoneInfo("UTC")
DAY = timedelta(days=1)


def member_timezones(address: str) -> tuple[ZoneInfo, ...]:
    """Every time zone the member's number may be in: phonenumbers lists all of a
    country's zones for a mobile (sixteen for a Russian one), so none of them alone is
    the member's."""
    try:
        number = phonenumbers.parse(address.removeprefix("whatsapp:"))
    except phonenumbers.NumberParseException:
        return (UTC,)
    from phonenumbers import timezone as number_timezones

    # phonenumbers answers "Etc/Unknown", no zone at all, for a number it cannot place.
    return _known_zones(tuple(number_timezones.time_zones_for_number(number))) or (UTC,)


@cache
def _known_zones(names: tuple[str, ...]) -> tuple[ZoneInfo, ...]:
    """Cached per list: ZoneInfo keeps only the last few zones it loaded, fewer than the
    sixteen of a Russian mobile, so it would read them all from disk for every message."""
    return tuple(zone for name in names if (zone := _zone(name)) is not None)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def quiet_until(address: str, now: datetime) -> datetime | None:
    """When quiet hours end for this member, or None if it is not quiet now."""
    config = current_app.config
    return quiet_until_in(
        member_timezones(address), now, config["QUIET_HOURS_START"], config["QUIET_HOURS_END"]
    )


def quiet_until_in(
    zones: Sequence[ZoneInfo], now: datetime, start: int, end: int
) -> datetime | None:
    """The first moment from ``now`` that it is daytime in as many of ``zones`` as it
    ever is at once, or None if that is now.

    Usually some moment is daytime in every zone, and this is the first moment it is
    daytime everywhere the member may be: under 21..8 every number phonenumbers knows
    has one (the widest list, +1 toll-free, spans 11.5 hours). Quiet hours that leave
    less daytime than a list spans (a Russian mobile's spans 10 hours) leave no such
    moment, and any rule then sends at night somewhere; this one sends when the fewest
    zones (as phonenumbers lists them) are asleep. It stays bounded: the count only
    rises when a zone wakes, and every zone wakes once a day, so the best moment is
    ``now`` or a zone's next wake, within a day. The moment chosen is itself a best
    one, so asking again then answers None: no deferral loop. Only a DST change within
    the day can make a later moment better, and each such re-deferral wakes more zones
    than the last, so it cannot repeat for long."""
    if start == end:
        return None
    wakes = (_next_wake(zone, now, end) for zone in zones)
    # A wall-clock day is 25 hours across a DST change; the promise is 24.
    moments = sorted({now, *(wake for wake in wakes if wake - now <= DAY)})
    # max() keeps the first of equals: the earliest best moment, ``now`` if it is one.
    best = max(moments, key=lambda moment: _awake_in(zones, moment, start, end))
    return None if best == now else best.astimezone(UTC)


def _awake_in(zones: Sequence[ZoneInfo], moment: datetime, start: int, end: int) -> int:
    return sum(not _is_quiet(moment.astimezone(zone).hour, start, end) for zone in zones)


def _is_quiet(hour: int, start: int, end: int) -> bool:
    if start > end:  # overnight, e.g. 21..8
        return hour >= start or hour < end
    return start <= hour < end


def _next_wake(zone: ZoneInfo, now: datetime, end: int) -> datetime:
    """The next ``end``:00 on the zone's wall clock after ``now``. Wall-clock arithmetic
    in the zone keeps it at ``end``:00 across a DST change."""
    local = now.astimezone(zone)
    wake = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if wake <= local:
        wake += timedelta(days=1)
    return wake.astimezone(UTC)


# The send rate is a schedule, not a count per second. Counting (at most N in any second)
# admits a burst whenever a second's slots free up at once, and a burst reaches Twilio
# with jitter: one worker's request a few milliseconds late, the next one's early, and a
# second at Twilio held N + 2. So sends are spaced evenly: every worker reserves the next
# free slot of one schedule in Redis (the time the next slot opens, on Redis's clock, so
# workers on several machines share it) and sleeps until its slot. This is GCRA with no
# burst; ``limits``, which rate-limits sign-in, only counts per window.
_RESERVE_SLOT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
if slot - now > tonumber(ARGV[2]) then
    return -1
end
local next_slot = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', next_slot),
           'PX', math.ceil((next_slot - now) / 1000) + 1000)
return slot - now
"""
SLOT_KEY = "feedback:send-slot"
# The slots are spaced for a rate a little under SEND_RATE_PER_SECOND. Evenly spaced at
# the very rate, a request that reaches Twilio a millisecond later than the one fifty
# slots after it puts 51 into a second there. At 97 %, fifty slots at 50/s span 1.031 s:
# 31 ms for the jitter between a worker's sleep ending and Twilio receiving its request
# (9 ms at most in the fan-out benchmark).
PACE = 0.97


@cache
def _reserve_slot(connection: Redis) -> Script:
    return connection.register_script(_RESERVE_SLOT)


def send_interval(per_second: float) -> float:
    """Seconds between two slots: the configured rate, less the slack."""
    return 1 / (per_second * PACE)


def wait_for_send_slot(max_wait: float = 5.0) -> bool:
    """Reserve the next free send slot, shared by every worker, and sleep until it. False,
    reserving nothing, if the next free slot is more than ``max_wait`` away."""
    from ..jobs import redis_connection

    interval = send_interval(float(current_app.config["SEND_RATE_PER_SECOND"]))
    wait_us = int(
        _reserve_slot(redis_connection())(
            keys=[SLOT_KEY], args=[interval * 1_000_000, int(max_wait * 1_000_000)]
        )
    )
    if wait_us < 0:
        return False
    time.sleep(wait_us / 1_000_000)
    return True


def describe(address: str) -> str:
    return mask_digits(address)
