"""The demo seed fills the dashboard through the real paths, and never in production."""

from sqlalchemy import func, select

from feedback_bot.extensions import db
from feedback_bot.models import Decision, FeedbackItem, OutboundMessage, User


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

    again = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert "nothing seeded" in again.output


def test_demo_seed_refuses_production(make_app):
    app = make_app(FEEDBACK_ENV="production")
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code != 0
    assert "development only" in result.output
