"""Messages that name a number of days take the form each language gives that number.

"Within 21 days" is "în maximum 21 de zile" in Romanian but "14 zile" without "de";
Arabic says "يومين" for two days, "أيام" for three to ten, "يومًا" for eleven to 99 and
"يوم" for a hundred. The acknowledgements and the interim update are plural entries in
the catalogues, and interpreters edit each form on its own.
"""

from __future__ import annotations

import io

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from feedback_bot.extensions import db
from feedback_bot.interpreting.catalogue_io import entries, export_po, read_import
from feedback_bot.interpreting.saving import TranslationRefused, save_override
from feedback_bot.languages import LanguageRefused, set_enabled
from feedback_bot.messaging.overrides import bump_version, form_context, plural_form
from feedback_bot.messaging.templates import (
    KEYWORD_MSGIDS,
    RATING_WORD_MSGIDS,
    TEMPLATES,
    render,
)
from feedback_bot.models import MessageOverride, ReviewState

from .test_interpreter_pages import interpreter

ACK = TEMPLATES["ack"].msgid
INTERIM = TEMPLATES["interim"].msgid


@pytest.mark.parametrize(
    ("locale", "days", "says", "never"),
    [
        ("ar", 2, "خلال يومين", "خلال 2"),
        ("ar", 7, "خلال 7 أيام", "يومًا"),
        ("ar", 21, "خلال 21 يومًا", "أيام"),
        ("ar", 100, "خلال 100 يوم.", "يومًا"),
        ("ro", 14, "14 zile", "de zile"),
        ("ro", 21, "21 de zile", "21 zile"),
        ("uk", 21, "За 21 день", "днів"),
        ("uk", 3, "За 3 дні", "днів"),
        ("uk", 28, "За 28 днів", "дні "),
        ("pl", 21, "W ciągu 21 dni", "dnia"),
        ("en", 21, "within 21 days", "21 day."),
    ],
)
def test_the_acknowledgement_takes_the_form_of_its_number(app, locale, days, says, never):
    with app.app_context():
        text = render("ack", locale, ref="K7Q2", days=days)
    assert says in text and never not in text, text


def test_the_interim_update_has_forms_too(app):
    with app.app_context():
        assert "Протягом 21 дня" in render("interim", "uk", ref="K7Q2", days=21)
        assert "Протягом 14 днів" in render("interim", "uk", ref="K7Q2", days=14)
        assert "din nou în cel mult 30 de zile" in render("interim", "ro", ref="K7Q2", days=30)


def test_a_form_edited_changes_only_the_numbers_it_is_for(app):
    with app.app_context():
        twenty_and_over = plural_form("ro", 21)
        assert twenty_and_over != plural_form("ro", 14)
        edited = (
            "Mulțumim! Un om vă citește mesajul. Aflați ce urmează în cel mult %(days)s de "
            "zile. Ref. %(ref)s. Răspundeți STOP pentru dezabonare."
        )
        before_14 = render("ack", "ro", ref="K7Q2", days=14)
        save_override(None, "ro", ACK, edited, ReviewState.REVIEWED, form_context(twenty_and_over))
        assert render("ack", "ro", ref="K7Q2", days=30) == edited % {"ref": "K7Q2", "days": 30}
        assert render("ack", "ro", ref="K7Q2", days=14) == before_14


def test_an_edit_saved_for_the_whole_message_still_reaches_members(app):
    """Saved before the message had forms (one text, context ""): that is the text the
    interpreter wanted members to read, for every number, until they edit a form."""
    whole = "Diolch. Cyf %(ref)s, o fewn %(days)s diwrnod. Atebwch STOP i stopio."
    with app.app_context():
        db.session.add(
            MessageOverride(locale="cy", context="", msgid=ACK, text=whole, state="reviewed")
        )
        db.session.commit()
        bump_version()
        for days in (2, 3, 6, 21):
            assert render("ack", "cy", ref="K7Q2", days=days) == whole % {
                "ref": "K7Q2",
                "days": days,
            }
        # The editor shows it in each form's box, and the file carries it in each form.
        [entry] = [m for m in read_po(io.BytesIO(export_po("cy"))) if m.id and m.id[0] == ACK]
        assert set(entry.string) == {whole}


def test_a_form_may_say_its_number_in_words_but_keeps_everything_else(app):
    with app.app_context():
        two_days = form_context(plural_form("ar", 2))
        in_words = "شكرًا، وصلتنا رسالتكم. سنخبركم خلال يومين. الرقم %(ref)s. أرسلوا STOP للإيقاف."
        save_override(None, "ar", ACK, in_words, ReviewState.REVIEWED, two_days)
        assert render("ack", "ar", ref="K7Q2", days=2) == in_words % {"ref": "K7Q2"}
        with pytest.raises(TranslationRefused, match=r"must keep %\(ref\)s"):
            save_override(None, "ar", ACK, "خلال يومين", ReviewState.REVIEWED, two_days)
        # A message without forms keeps every placeholder, the number too.
        with pytest.raises(TranslationRefused, match=r"must keep %\(ref\)s"):
            save_override(None, "ar", TEMPLATES["closed_no_action"].msgid, "شكرًا", "reviewed")


def test_a_form_the_language_does_not_have_is_refused(app):
    with app.app_context(), pytest.raises(TranslationRefused, match="not a message template"):
        save_override(None, "pl", ACK, "W ciągu %(days)s dni. %(ref)s", "reviewed", "plural:3")
    with app.app_context(), pytest.raises(TranslationRefused, match="not a message template"):
        # Nor the whole message as one text any more.
        save_override(None, "pl", ACK, "W ciągu %(days)s dni. %(ref)s", "reviewed", "")


def test_the_editor_shows_each_form_with_its_numbers(app, client):
    interpreter(app, client, languages="ar")
    page = client.get("/admin/translate/templates/ar").get_data(as_text=True)
    for form in range(6):
        assert f'id="template-ack-{form}"' in page
    assert "<h3>For 3, 4, 5, 6, 7, 8, 9, 10… days <small" in page  # and 103-110
    assert "<h3>For 11, 12, 13, 14, 15, 16, 17, 18… days <small" in page
    assert 'id="template-ack"' not in page  # no box for the message as one text
    # One heading for the message, one for each of its forms; the plain name, not the code.
    assert "<h2>Acknowledgement</h2>" in page and "<h2>Help <small" in page
    # By the numbers each is for: Arabic's form for 11-99 before its form for 100-102.
    assert page.index("For 11, 12, 13") < page.index("For 100, 101, 102 days")

    response = client.post(
        "/admin/translate/templates/ar",
        data={
            "kind": "ack-3",
            "text": "شكرًا. سنخبركم خلال %(days)s أيام. الرقم %(ref)s. أرسلوا STOP للإيقاف.",
            "state": "reviewed",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        assert render("ack", "ar", ref="K7Q2", days=5).startswith("شكرًا. سنخبركم خلال 5 أيام.")
        assert "يومًا" in render("ack", "ar", ref="K7Q2", days=21)


def test_the_editor_says_which_forms_no_member_gets(app, client):
    """Days are never fewer than two (INTERIM_UPDATE_DAYS): Arabic's forms for 0 and 1 are
    in the catalogue, but nobody reads them, and the editor says so."""
    interpreter(app, client, languages="ar")
    page = client.get("/admin/translate/templates/ar").get_data(as_text=True)
    assert "Never sent: this form is for days = 0. Here days is always 2 or more." in page
    assert "Never sent: this form is for days = 1. Here days is always 2 or more." in page
    assert "<h3>For 2 days <small" in page
    # Folded away and marked optional, not "untranslated" or "needs review" like the rest.
    for days, form in (("0 days", 0), ("1 day", 1)):
        opening = (
            f'<section class="template-row template-form never-sent" id="template-ack-{form}">'
        )
        section = page.split(opening, 1)[1].split("</section>", 1)[0]
        heading = f'<h3>For {days} <small class="badge">Never sent · optional</small></h3>'
        # A heading screen readers list, not the disclosure's button name.
        assert section.lstrip().startswith(heading)
        assert section.split(heading, 1)[1].lstrip().startswith("<details>")
        assert "<h3>" not in section.split("<summary>", 1)[1].split("</summary>")[0]
        assert "needs review" not in section.split("</summary>")[0]
    # After every form members get.
    assert page.index('id="template-ack-5"') < page.index('id="template-ack-0"')


def test_a_language_needs_no_translation_of_a_form_never_sent(app):
    """Romanian's form for one day left in English keeps nobody from the language, and
    counts for nothing in its completeness; a form members get would (above)."""
    from feedback_bot.interpreters.queries import completeness

    with app.app_context():
        one_day = form_context(plural_form("ro", 1))
        assert one_day != form_context(plural_form("ro", 2))
        before = completeness(["ro"])["ro"]
        set_enabled("ro", False, None)
        save_override(None, "ro", ACK, ACK, ReviewState.NEEDS_REVIEW, one_day)
        set_enabled("ro", True, None)
        assert completeness(["ro"])["ro"] == before


def test_a_po_file_carries_every_form(app):
    with app.app_context():
        exported = export_po("uk")
        [entry] = [m for m in read_po(io.BytesIO(exported)) if m.id and m.id[0] == INTERIM]
        assert len(entry.string) == 3 and "дня" in entry.string[0]

        catalog = read_po(io.BytesIO(exported))
        catalog[(INTERIM, INTERIM)].string = (
            entry.string[0],
            entry.string[1].replace("Протягом", "Упродовж"),
            entry.string[2],
        )
        buffer = io.BytesIO()
        write_po(buffer, catalog, width=0)
        report = read_import("uk", buffer.getvalue())
        assert report.errors == []
        assert [(change.context, change.msgid) for change in report.changes] == [
            (form_context(1), INTERIM)
        ]


def test_a_po_file_with_a_form_missing_its_reference_is_refused_by_form(app):
    catalog = Catalog(locale="ro")
    stop = "Răspundeți STOP pentru dezabonare."
    forms = (
        f"%(days)s zi %(ref)s. {stop}",
        f"%(days)s zile. {stop}",
        f"%(days)s de zile %(ref)s. {stop}",
    )
    catalog.add((ACK, ACK), forms)
    buffer = io.BytesIO()
    write_po(buffer, catalog)
    with app.app_context():
        report = read_import("ro", buffer.getvalue())
    assert report.errors == [
        f"{ACK[:50]!r} (form 1): The translation must keep %(ref)s, which puts in the member's "
        "reference: write it exactly like that."
    ]
    assert {change.context for change in report.changes} == {form_context(0), form_context(2)}


def test_a_language_is_offered_only_with_every_form_translated(app):
    """A form left in English would reach members whose number of days takes it."""
    with app.app_context():
        set_enabled("ro", False, None)
        save_override(
            None, "ro", ACK, ACK, ReviewState.REVIEWED, form_context(plural_form("ro", 21))
        )
        with pytest.raises(LanguageRefused, match="1 member message has no translation"):
            set_enabled("ro", True, None)


def test_completeness_counts_a_message_with_forms_once(app):
    from feedback_bot.interpreters.queries import completeness
    from feedback_bot.messaging.overrides import translate

    with app.app_context():
        assert [kind for kind in entries("cy") if kind.startswith("ack-")] == [
            f"ack-{form}" for form in range(5)
        ]
        welsh, english = completeness(["cy"])["cy"], completeness(["en"])["en"]
        # The keyword lists, the polite words and the three answers to "Did we listen?".
        lists = len(KEYWORD_MSGIDS) + 1 + len(RATING_WORD_MSGIDS)
        assert welsh["total"] == english["total"] == len(TEMPLATES) + lists
        assert welsh["translated"] == welsh["total"]
        reviewed = welsh["reviewed"]
        # One number of each of Welsh's five forms: 21, 1, 2, 3, 6.
        for number in (21, 1, 2, 3, 6):
            assert completeness(["cy"])["cy"]["reviewed"] == reviewed  # not all forms yet
            form = form_context(plural_form("cy", number))
            text = translate(ACK, "cy", count=number)
            save_override(None, "cy", ACK, text, ReviewState.REVIEWED, form)
        assert completeness(["cy"])["cy"]["reviewed"] == reviewed + 1
