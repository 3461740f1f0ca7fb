"""Logging that never writes a member's phone number, and names the job it runs in."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from flask import Flask

# Eight or more digits, optionally led by + and split by spaces or dashes: long enough to be
# a phone number, short enough to leave ids, counts and timestamps alone.
# Not inside a longer token, so hex ids (RQ worker names, SIDs) are left alone.
PHONE_LIKE = re.compile(r"(?<![0-9A-Za-z])(?:whatsapp:)?\+?\d(?:[\s-]?\d){7,}(?![0-9A-Za-z])")
# A number known to be in a text is masked even when shorter (a few territories' E.164
# numbers have seven digits), but not so short that it would mask any small number.
KNOWN_NUMBER_MIN_DIGITS = 5


def redact(text: str, numbers: Iterable[str] = ()) -> str:
    """``text`` with anything that looks like a phone number masked, and ``numbers`` too
    (ones it may hold, such as the address Twilio echoes in an error), even if shorter."""
    for number in numbers:
        digits = [ch for ch in number if ch.isdigit()]
        if len(digits) >= KNOWN_NUMBER_MIN_DIGITS:
            # As PHONE_LIKE writes them: a "whatsapp:" or "+" prefix, spaces or dashes.
            pattern = r"(?<!\d)(?:whatsapp:)?\+?" + r"[\s-]?".join(digits) + r"(?!\d)"
            text = re.sub(pattern, lambda m: mask_digits(m.group(0)), text)
    return PHONE_LIKE.sub(lambda m: mask_digits(m.group(0)), text)


def mask_digits(number: str) -> str:
    digits = [ch for ch in number if ch.isdigit()]
    return "•••" + "".join(digits[-2:])


class RedactingFilter(logging.Filter):
    """Defence in depth: code should never log a number, but if it does, mask it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        # A traceback (log.exception) is formatted after the filters run, and an exception's
        # text can hold a number (Twilio's errors echo the "To" address): format it now,
        # masked. Formatters use ``exc_text`` when it is set.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class CurrentJobFilter(logging.Filter):
    """Put the RQ job id in every record logged while a job runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        from rq import get_current_job

        job = get_current_job()
        record.job_id = job.id if job is not None else "-"
        return True


def configure_logging(app: Flask) -> None:
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        if not root.handlers:
            stream = logging.StreamHandler()
            stream.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s [%(job_id)s] %(name)s: %(message)s")
            )
            root.addHandler(stream)
        for handler in root.handlers:
            handler.addFilter(CurrentJobFilter())
            handler.addFilter(RedactingFilter())
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    # The Twilio client logs every request's form data, message body and number included,
    # at INFO. Keep it to warnings.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
