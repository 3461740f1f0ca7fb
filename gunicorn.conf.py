"""gunicorn's settings for ``gunicorn wsgi:app`` (read from the working directory).

Everything else (bind address, number of workers) comes from gunicorn's own defaults and
environment: ``PORT``, ``WEB_CONCURRENCY``, ``GUNICORN_CMD_ARGS``.
"""

# Build the app, and load the language models (``wsgi.py``), once in the master, then fork
# the workers: they share those pages instead of each holding its own copy (about 600 MiB
# each, measured), and a worker gunicorn replaces starts at once. The master opens no
# database or Redis connection while building the app, so no worker inherits a socket
# another is using (tests/test_web_preload.py checks both).
preload_app = True
