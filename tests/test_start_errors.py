"""A configuration mistake stops every process of the Procfile with one readable line.

The operator reads "Error: TWILIO_ACCOUNT_SID must be ..." and exits 1, not a traceback
through the app factory; a bug anywhere else keeps its traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from feedback_bot import config as settings
from feedback_bot import create_app
from feedback_bot.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

COMMANDS = {
    "release": [str(BIN / "flask"), "--app", "feedback_bot", "db", "upgrade"],
    "worker": [sys.executable, str(ROOT / "worker.py")],
    "web": [
        str(BIN / "gunicorn"),
        "--chdir",
        str(ROOT),
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "-b",
        "127.0.0.1:0",
        "wsgi:app",
    ],
}


def start(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # An empty folder, so no .env is read; nothing of the test run's own configuration.
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TWILIO_", "FEEDBACK_", "FLASK_"))
        and name not in settings.PRODUCTION_REQUIRED
    }
    environ.update(
        FEEDBACK_ENV="production",
        PYTHONPATH=str(ROOT),
        TWILIO_ACCOUNT_SID="hello",
        FEEDBACK_INSTANCE_PATH=str(tmp_path / "instance"),
    )
    return subprocess.run(
        command, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("process", sorted(COMMANDS))
def test_a_configuration_error_is_one_line_and_a_failure(tmp_path, process):
    result = start(COMMANDS[process], tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(said) == 1, result.stderr
    assert said[0].startswith("Error: feedback-bot will not start in production without")


def test_under_the_flask_command_a_configuration_error_is_clicks_own(monkeypatch):
    def refuse(config):
        raise ConfigError("REDIS_URL is not set")

    monkeypatch.setattr(settings, "validate", refuse)
    with click.Context(click.Command("upgrade")), pytest.raises(click.ClickException) as caught:
        create_app({})
    assert caught.value.format_message() == "REDIS_URL is not set"


def test_a_bug_keeps_its_traceback_under_the_flask_command(monkeypatch):
    def broken(config):
        raise KeyError("SHIPPED_LOCALES")

    monkeypatch.setattr(settings, "validate", broken)
    with click.Context(click.Command("upgrade")), pytest.raises(KeyError):
        create_app({})


def test_outside_a_command_a_configuration_error_is_raised_as_it_is(monkeypatch):
    def refuse(config):
        raise ConfigError("REDIS_URL is not set")

    monkeypatch.setattr(settings, "validate", refuse)
    with pytest.raises(ConfigError):
        create_app({})
