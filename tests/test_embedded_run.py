"""``python3 dev.py run``: the whole system as a developer starts it, used as a person would.

Runs dev.py from the bare interpreter (so the re-run inside .venv is exercised too), with
the database, the Redis file and the .env in a temporary folder. pip runs only if
pyproject.toml changed since .venv was last installed (dev.py's hash stamp).
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


def test_dev_run_serves_the_simulator_and_the_worker_acknowledges(tmp_path: Path) -> None:
    port = free_port()
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
    python = getattr(sys, "_base_executable", None) or sys.executable
    process = subprocess.Popen(
        [python, str(ROOT / "dev.py"), "run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
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
        assert "FEEDBACK_ENV=development" in (tmp_path / ".env").read_text()

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

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, output.text
        output.thread.join(timeout=10)
        assert not output.thread.is_alive(), "a child still holds dev.py's output open"
        assert "Stopped." in output.text
        for name, pid in pids.items():
            assert not alive(pid), f"the {name} (pid {pid}) is still running"
        assert not Path(socket_file).exists()
        assert (tmp_path / "instance" / "redis.db").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        output.thread.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
