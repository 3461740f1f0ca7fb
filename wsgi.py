"""The WSGI entry point: ``gunicorn wsgi:app``."""

import os

from feedback_bot import create_app
from feedback_bot.keys import check_at_start

# Load the language models at start, not in the first request that needs them. Web
# processes detect a language only while the database is down (to answer inline in the
# member's language), and that is exactly when a slow request would hurt.
os.environ.setdefault("PRELOAD_LANGUAGE_MODELS", "1")

app = create_app()
# Refuse to serve with keys that cannot read what is stored (feedback_bot/keys.py).
check_at_start(app)
