"""The Procfile the README shows is the Procfile, and each of its lines can run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_shows_the_procfile():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running in production", 1)[1]
    shown = re.search(r"```\n(.*?)```", section, re.DOTALL)
    assert shown is not None
    assert shown.group(1) == (ROOT / "Procfile").read_text()


def test_the_release_phase_compiles_nothing_that_would_be_lost():
    """Heroku runs ``release:`` in a one-off dyno whose files are thrown away: catalogues
    compiled there never reach the web or worker dynos (they compile their own at start)."""
    processes = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert set(processes) == {"release", "web", "worker"}
    assert "translate compile" not in processes["release"]
    assert processes["web"] == "gunicorn wsgi:app"
    assert processes["worker"] == "python worker.py"
