"""The WSGI entry point: ``gunicorn wsgi:app``."""

import os

from feedback_bot import create_app

# Web processes detect languages: load the models at start, not in the first webhook.
# Workers do not preload them (they rarely need them), sparing hundreds of MB each.
os.environ.setdefault("PRELOAD_LANGUAGE_MODELS", "1")

app = create_app()
