"""What a text costs as SMS: its encoding and number of segments.

GSM-7 fits 160 characters in one segment and 153 per segment once split (characters of the
extension table, like € or [, take two); anything else goes as UCS-2: 70 UTF-16 code units,
67 per segment once split. The codec is gsm0338's; only the arithmetic is ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec


@dataclass(frozen=True)
class SmsCost:
    characters: int
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def sms_cost(text: str) -> SmsCost:
    try:
        units = len(text.encode("gsm03.38"))
        single, multi, encoding = 160, 153, "GSM-7"
    except UnicodeEncodeError:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / multi)
    return SmsCost(characters=len(text), encoding=encoding, units=units, segments=segments)
