"""Quiet hours for numbers that phonenumbers places in several time zones.

A Russian, Australian or US number may be in any of several zones; an unprompted
message must wait until it is daytime in all of them, not just in the first one listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from flask import Flask
from phonenumbers import timezone as number_timezones

from feedback_bot.config import defaults
from feedback_bot.messaging.pacing import member_timezones, quiet_until, quiet_until_in

RUSSIAN_MOBILE = "+79161234567"
AUSTRALIAN_MOBILE = "+61412345678"
UK_MOBILE = "+447911123456"
IDAHO = "+12085550123"  # Boise (Mountain) or Los Angeles (Pacific)
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def quiet_hours() -> Iterator[Flask]:
    """Only the app's configuration: quiet hours need neither a database nor Redis."""
    app = Flask(__name__)
    app.config.update(defaults())  # 21..8, as in production
    with app.app_context():
        yield app


@cache
def zone_names(address: str) -> frozenset[str]:
    return frozenset(number_timezones.time_zones_for_number(phonenumbers.parse(address)))


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def asleep_in(name: str, moment: datetime, start: int = 21, end: int = 8) -> bool:
    hour = moment.astimezone(zone(name)).hour
    return hour >= start or hour < end if start > end else start <= hour < end


def awake_count(address: str, moment: datetime, start: int, end: int) -> int:
    return sum(not asleep_in(name, moment, start, end) for name in zone_names(address))


def test_russian_mobile_at_five_in_moscow_waits_for_daytime_in_every_zone(quiet_hours):
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 05:00 in Moscow, 07:00 in Almaty
    assert {"Europe/Moscow", "Asia/Vladivostok", "Asia/Anadyr"} <= zone_names(RUSSIAN_MOBILE)

    wake = quiet_until(RUSSIAN_MOBILE, now)

    # 08:00 in Bucharest, the westernmost zone listed; 09:00 in Moscow, 18:00 in Anadyr.
    assert wake == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert not any(asleep_in(name, wake) for name in zone_names(RUSSIAN_MOBILE))
    assert quiet_until(RUSSIAN_MOBILE, wake) is None


def test_russian_mobile_in_a_vladivostok_evening_is_quiet(quiet_hours):
    now = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)  # 21:30 in Vladivostok, 14:30 in Moscow
    assert quiet_until(RUSSIAN_MOBILE, now) == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def test_perth_mobile_at_seven_is_quiet(quiet_hours):
    # phonenumbers gives every Australian mobile the same list, Perth and Cocos included.
    assert {"Australia/Perth", "Australia/Sydney", "Indian/Cocos"} <= zone_names(AUSTRALIAN_MOBILE)
    now = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # 07:00 in Perth, 09:30 in Adelaide

    wake = quiet_until(AUSTRALIAN_MOBILE, now)

    # 08:00 on Cocos (UTC+6:30), the latest of the zones asleep at 07:00 in Perth.
    assert wake == datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    assert not any(asleep_in(name, wake) for name in zone_names(AUSTRALIAN_MOBILE))


@pytest.mark.parametrize(
    ("now", "wake"),
    [
        (datetime(2026, 11, 23, 22, 30, tzinfo=UTC), datetime(2026, 11, 24, 8, 0, tzinfo=UTC)),
        # Summer time: 07:30 in London, quiet until 08:00 BST.
        (datetime(2026, 7, 1, 6, 30, tzinfo=UTC), datetime(2026, 7, 1, 7, 0, tzinfo=UTC)),
        (datetime(2026, 7, 1, 7, 30, tzinfo=UTC), None),
        (datetime(2026, 7, 1, 12, 0, tzinfo=UTC), None),
    ],
)
def test_uk_number_behaves_as_before(quiet_hours, now, wake):
    assert quiet_until(UK_MOBILE, now) == wake


@pytest.mark.parametrize(
    ("now", "wake"),
    [
        # 09:00 in New York, 06:00 in Los Angeles: quiet until 08:00 there.
        (datetime(2026, 11, 23, 14, 0, tzinfo=UTC), datetime(2026, 11, 23, 16, 0, tzinfo=UTC)),
        # The same in summer time, an hour earlier in UTC.
        (datetime(2026, 7, 1, 13, 0, tzinfo=UTC), datetime(2026, 7, 1, 15, 0, tzinfo=UTC)),
        # 21:30 in New York, 18:30 in Los Angeles: not until 08:00 in New York (05:00 in
        # Los Angeles) but until 08:00 in Los Angeles.
        (datetime(2026, 11, 24, 2, 30, tzinfo=UTC), datetime(2026, 11, 24, 16, 0, tzinfo=UTC)),
        (datetime(2026, 11, 23, 17, 0, tzinfo=UTC), None),
    ],
)
def test_new_york_or_los_angeles_waits_for_daytime_in_both(now, wake):
    assert quiet_until_in((NEW_YORK, LOS_ANGELES), now, 21, 8) == wake


def test_us_number_in_two_zones_is_quiet_until_daytime_in_the_western_one(quiet_hours):
    assert zone_names(IDAHO) == {"America/Boise", "America/Los_Angeles"}
    now = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)  # 08:30 in Boise, 07:30 in Los Angeles
    assert quiet_until(IDAHO, now) == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


def test_single_zone_us_number_behaves_as_before(quiet_hours):
    assert quiet_until("+12125550123", datetime(2026, 11, 23, 14, 0, tzinfo=UTC)) is None
    late = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)  # 21:30 in New York
    assert quiet_until("+12125550123", late) == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def test_no_common_daytime_sends_when_most_zones_are_awake(quiet_hours):
    # Eight hours of daytime (10..18) is less than the 10 hours a Russian mobile's zones
    # span: no moment is daytime in all of them.
    quiet_hours.config.update(QUIET_HOURS_START=18, QUIET_HOURS_END=10)
    now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 11:00 in Almaty, 12 zones awake

    wake = quiet_until(RUSSIAN_MOBILE, now)

    assert wake is not None and now < wake <= now + timedelta(days=1)
    best = max(
        awake_count(RUSSIAN_MOBILE, now + timedelta(minutes=5 * step), 18, 10)
        for step in range(24 * 12)
    )
    assert awake_count(RUSSIAN_MOBILE, wake, 18, 10) == best < len(member_timezones(RUSSIAN_MOBILE))
    assert quiet_until(RUSSIAN_MOBILE, wake) is None


def sweep(start: datetime, days: int, step: timedelta) -> Iterator[datetime]:
    moment = start
    while moment < start + timedelta(days=days):
        yield moment
        moment += step


def best_awake_count(address: str, now: datetime, start: int, end: int) -> int:
    """The most zones awake at once in the day from ``now``; a Russian mobile's zones all
    change on the hour, so the hours are enough."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    moments = [now, *(hour + timedelta(hours=n) for n in range(1, 25))]
    return max(awake_count(address, moment, start, end) for moment in moments)


def test_no_common_daytime_never_defers_more_than_a_day_nor_forever(quiet_hours):
    quiet_hours.config.update(QUIET_HOURS_START=18, QUIET_HOURS_END=10)
    zones = len(member_timezones(RUSSIAN_MOBILE))
    # Across the end of summer time in Europe (25 October) and the US (1 November).
    for now in sweep(datetime(2026, 10, 20, tzinfo=UTC), 16, timedelta(minutes=20)):
        moment, deferrals = now, 0
        while (wake := quiet_until(RUSSIAN_MOBILE, moment)) is not None:
            assert moment < wake <= moment + timedelta(days=1), now
            moment, deferrals = wake, deferrals + 1
            assert deferrals <= zones, now
        assert moment - now <= timedelta(days=1), now
        assert awake_count(RUSSIAN_MOBILE, moment, 18, 10) >= best_awake_count(
            RUSSIAN_MOBILE, now, 18, 10
        ), now
