"""The WSGI entry point: ``gunicorn wsgi:app``."""

from feedback_bot import create_app

app = create_app()
