"""Phone numbers at rest: encrypted for use, hashed for lookup, masked for display; and
numbers members typed into their messages, removed where the text goes beyond staff.

``FEEDBACK_ENCRYPTION_KEY`` holds one or more Fernet keys, newest first: new values are
encrypted with the first, any of them decrypts (rotate by putting a new key in front and
re-encrypting at leisure). The lookup hash is keyed by a key derived from the *last*
(oldest) one, so that rotation does not change every hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import phonenumbers
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app
from phonenumbers import Leniency


class Vault:
    def __init__(self, keys: str) -> None:
        key_list = [key.strip() for key in keys.split(",") if key.strip()]
        self.keys = key_list
        self._fernet = MultiFernet([Fernet(key.encode()) for key in key_list])
        self._hash_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"feedback-bot phone lookup"
        ).derive(key_list[-1].encode())

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: wrong FEEDBACK_ENCRYPTION_KEY?") from exc

    def lookup_hash(self, e164: str) -> str:
        return hmac.new(self._hash_key, e164.encode(), hashlib.sha256).hexdigest()

    def rotate(self, token: str) -> str:
        """``token`` encrypted again with the newest key, keeping the time it carries (the
        spool reads an old entry's time from it)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: wrong FEEDBACK_ENCRYPTION_KEY?") from exc

    def newest_only(self) -> Vault:
        """The vault once the older keys are removed: its lookup hash is keyed by the
        newest key (``flask keys rotate --rehash``)."""
        return Vault(self.keys[0])


def vault() -> Vault:
    return current_app.extensions["feedback_vault"]


def init_app(app: Flask) -> None:
    app.extensions["feedback_vault"] = Vault(app.config["FEEDBACK_ENCRYPTION_KEY"])


def mask_phone(e164: str) -> str:
    """``+447700900123`` as ``+44 •••• ••01 23``: enough to tell two members apart."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return "••••"
    national = str(number.national_number)
    if len(national) < MASK_FULL_TAIL_FROM:
        # A short numbering plan (the Falklands' five digits, Niue's four): four digits
        # would be most of the number. A third of it, at most, is shown.
        return f"+{number.country_code} •••• ••{national[len(national) - len(national) // 3 :]}"
    tail = national[-4:]
    return f"+{number.country_code} •••• ••{tail[:2]} {tail[2:]}"


# National numbers this long or longer show their last four digits when masked.
MASK_FULL_TAIL_FROM = 9


PHONE_PLACEHOLDER = "[phone number removed]"
# Nine digits: the shortest national mobile numbers of most countries (Poland's, Spain's),
# longer than a year, a price or a ticket number usually is.
LOOSE_MATCH_MIN_DIGITS = 9
# A date (with its hour) is no number: "30.11.2026 14:00" has ten digits, and
# phonenumbers' loose match takes "30.11.2026 14" for one. Only a whole match that is a
# date: "06.12.34.56.78", a French mobile, begins like one.
DATE = re.compile(
    r"(\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}[./-]\d{1,2}[./-]\d{1,2})(\s+\d{1,2}([:.]\d{2})?)?"
)


def redact_phone_numbers(text: str, region: str | None) -> str:
    """``text`` with every phone number in it blanked out: each that phonenumbers knows is
    valid as written in ``region`` or internationally, and anything else shaped like one
    with ``LOOSE_MATCH_MIN_DIGITS`` digits or more (a number written without its leading
    0, a foreign number in its own country's style, a range phonenumbers does not know).
    Shorter runs of digits stay: a bus route, a year, a price, a flat number."""
    if not any(character.isdigit() for character in text):
        # No number without a digit (any script's: phonenumbers reads them all). Most
        # messages have none, and the panel's search asks this of many at a time.
        return text
    found: set[tuple[int, int]] = set()
    for where in {region, None}:
        for match in phonenumbers.PhoneNumberMatcher(text, where):
            found.add((match.start, match.end))
        for match in phonenumbers.PhoneNumberMatcher(text, where, leniency=Leniency.POSSIBLE):
            digits = sum(character.isdigit() for character in match.raw_string)
            if digits >= LOOSE_MATCH_MIN_DIGITS and not DATE.fullmatch(match.raw_string.strip()):
                found.add((match.start, match.end))
    # Overlapping matches (one number read two ways) are blanked once, as one.
    merged: list[list[int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        text = text[:start] + PHONE_PLACEHOLDER + text[end:]
    return text
