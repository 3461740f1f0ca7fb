"""The demo seed fills the dashboard through the real paths, and never in production."""

from sqlalchemy import func, select

from feedback_bot.demo import generated_password
from feedback_bot.extensions import db
from feedback_bot.models import Decision, FeedbackItem, OutboundMessage, User

from .conftest import send_sms


def test_demo_seed_creates_a_closed_loop(app, fake_twilio):
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--password", "demo-pass"])
    assert result.exit_code == 0, result.output
    assert "demo-pass" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FeedbackItem)) == 12
        assert db.session.scalar(select(func.count()).select_from(User)) == 3
        published = db.session.scalars(select(Decision).where(Decision.published_at.is_not(None)))
        assert len(published.all()) == 2
        ratings = set(db.session.scalars(select(FeedbackItem.rating)).all())
        assert {"yes", "partly", "no"} <= ratings
        kinds = set(db.session.scalars(select(OutboundMessage.kind)).all())
        assert {"ack", "what_next", "rating_question"} <= kinds
    assert fake_twilio.messages  # sent through the real send job

    again = app.test_cli_runner().invoke(args=["demo", "seed", "--password", "another-pass"])
    assert "nothing seeded" in again.output
    # The password printed the first time has scrolled away, and the new one is not
    # applied: the seed says how to get in.
    assert "keep the password printed when they were made" in again.output
    assert "python3 dev.py flask users set-password admin@example.org" in again.output


def test_demo_seed_on_a_database_filled_by_hand_says_how_to_make_an_account(
    app, client, fake_twilio
):
    sent = send_sms(client, "+447911123456", "Hello, the bins were not collected")
    assert sent.status_code == 200

    result = app.test_cli_runner().invoke(args=["demo", "seed"])

    assert "nothing seeded" in result.output
    assert "no demo accounts" in result.output
    assert "python3 dev.py flask users create you@example.org --role admin" in result.output


def test_a_generated_demo_password_can_be_typed_back_as_an_option_value(app, fake_twilio):
    """Printed to be typed back (``--demo-password``): never a leading "-", which the
    command line would take for an option, nor anything a shell would read."""
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    password = result.output.rsplit("with the password: ", 1)[1].strip()
    assert len(password) >= 12 and password.isalnum() and password.isascii()
    assert all(generated_password().isalnum() for _ in range(1000))
    with app.app_context():
        interpreter = db.session.scalars(select(User).where(User.role == "interpreter")).one()
        assert interpreter.check_password(password)


def test_demo_seed_refuses_production(make_app):
    app = make_app(FEEDBACK_ENV="production")
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code != 0
    assert "development only" in result.output
