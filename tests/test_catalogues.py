"""Every member-facing message is translated in every shipped language."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po

from feedback_bot.config import SHIPPED_LOCALES, TRANSLATIONS
from feedback_bot.messaging.templates import KEYWORD_MSGIDS, PLACEHOLDER, TEMPLATES, render

TRANSLATED = [locale for locale in SHIPPED_LOCALES if locale != "en"]


def catalogue(locale: str):
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_member_message_is_translated(locale):
    entries = {(m.context, m.id): m for m in catalogue(locale) if m.id}
    wanted = [(None, t.msgid) for t in TEMPLATES.values()]
    wanted += [("keyword", msgid) for msgid in KEYWORD_MSGIDS.values()]
    for key in wanted:
        message = entries.get(key) or entries.get((key[0], (key[1], key[1])))
        assert message is not None, f"{locale}: {key[1][:40]!r} is not in the catalogue"
        assert not message.fuzzy, f"{locale}: {key[1][:40]!r} is fuzzy and would not compile"
        # A message with a form per number: every form of the language, each translated.
        forms = message.string if message.pluralizable else (message.string,)
        if message.pluralizable:
            assert len(forms) == catalogue(locale).num_plurals
        for text in forms:
            assert text, f"{locale}: {key[1][:40]!r} has no translation"
            assert text != key[1], f"{locale}: {key[1][:40]!r} is still English"
            found, wanted_names = set(PLACEHOLDER.findall(text)), set(PLACEHOLDER.findall(key[1]))
            # A form may say its number in a word (Arabic "يومين", two days).
            assert found in (wanted_names, wanted_names - {"days"}), (locale, text)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_unreviewed_translations_say_so(locale):
    for message in catalogue(locale):
        if message.id:
            assert "needs-review" in message.flags or "reviewed" in message.flags, message.id


@pytest.mark.parametrize("locale", TRANSLATED)
def test_rendered_messages_come_from_the_catalogue(app, locale):
    values = {
        "ref": "K7Q2",
        "days": 21,
        "org": "Riverside",
        "options": "1 English",
        "summary": "We will fix it.",
    }
    with app.app_context():
        for template in TEMPLATES.values():
            wanted = {k: values[k] for k in template.placeholders}
            text = render(template.kind, locale, **wanted)
            assert text != render(template.kind, "en", **wanted), (locale, template.kind)
            for value in wanted.values():
                assert str(value) in text
