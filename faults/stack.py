"""The production stack as separate processes, and the levers that break it.

gunicorn serving ``wsgi:app``, ``python worker.py`` RQ workers, the fake Twilio
(``python -m feedback_bot.testing.fake_twilio``) and a private ``redis-server``, all started
in their own process groups and stopped by killing those groups; PostgreSQL is the
machine's, in a database of our own (``faults``), never another suite's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
from redis import Redis
from redis.exceptions import RedisError

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
REDIS_SERVER = "/usr/bin/redis-server"

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "faults"
DATABASE_URL = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"

_running: list[Process] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --------------------------------------------------------------------------- processes


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group: the process and anything it forked."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left; always reaps the leader."""
        if self in _running:
            _running.remove(self)
        if self.alive():
            self.kill_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        # The leader may be gone while a child it forked (RQ's scheduler) lingers.
        self.kill_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)

    def crash(self) -> None:
        """SIGKILL the group at once (a dead container), and reap it."""
        if self in _running:
            _running.remove(self)
        self.kill_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def start_process(name: str, argv: list[str], env: dict[str, str], log_path: Path) -> Process:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:  # the child keeps its own descriptor
        popen = subprocess.Popen(  # noqa: S603 - fixed argument lists
            argv,
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, killed as one
        )
    process = Process(name, popen, log_path)
    _running.append(process)
    return process


def stop_all() -> None:
    for process in reversed(list(_running)):
        process.stop(timeout=5)


# --------------------------------------------------------------------------- PostgreSQL


# pg_advisory_lock key: one fault-suite run at a time owns the ``faults`` database.
RUN_LOCK = 0x6661756C7473


def _try_lock(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (RUN_LOCK,)).fetchone()
    return bool(row and row[0])


@contextlib.contextmanager
def exclusive_run(wait_seconds: float) -> Iterator[None]:
    """Hold the run lock for the duration; wait up to ``wait_seconds`` for another run."""
    conn = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    try:
        deadline = time.monotonic() + wait_seconds
        waiting = False
        while not _try_lock(conn):
            if time.monotonic() > deadline:
                raise RuntimeError("another faults/run.py is using the faults database")
            if not waiting:
                print("another fault-suite run holds the faults database; waiting", flush=True)
                waiting = True
            time.sleep(2)
        yield
    finally:
        conn.close()  # the lock goes with the session


def admin_execute(statement: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(statement)  # type: ignore[arg-type]


def postgres_reachable() -> str | None:
    """None if PostgreSQL answers; else why not."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}".strip()
    return None


def allow_connections(allowed: bool) -> None:
    admin_execute(f"ALTER DATABASE {DB_NAME} ALLOW_CONNECTIONS {'true' if allowed else 'false'}")


def terminate_backends() -> int:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (DB_NAME,),
        ).fetchall()
    return len(rows)


def prepare_database(env: dict[str, str]) -> None:
    """Create ``faults`` if needed, empty its schema and run the migrations (the release step)."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
        if exists.fetchone() is None:
            admin.execute(f"CREATE DATABASE {DB_NAME}")  # type: ignore[arg-type]
    # An interrupted earlier run may have left the database closed.
    allow_connections(True)
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    subprocess.run(  # noqa: S603 - fixed argument list
        [str(VENV_BIN / "flask"), "--app", "feedback_bot", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def query(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(DATABASE_URL, connect_timeout=3) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Redis


@dataclass
class RedisServer:
    """Our own redis-server, without persistence: a restart loses everything it held."""

    port: int
    workdir: Path
    process: Process | None = None
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.workdir),
        ]
        self.process = start_process(
            f"redis-{self.restarts}", argv, dict(os.environ), self.workdir / "redis.log"
        )
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(RedisError), self.client() as probe:
                if probe.ping():
                    return self
            if not self.process.alive() or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start:\n" + self.process.tail())
            time.sleep(0.05)

    def restart(self, down_seconds: float) -> None:
        """Kill it (its data goes with it), stay down a moment, start a fresh one."""
        assert self.process is not None
        self.process.crash()
        time.sleep(down_seconds)
        self.restarts += 1
        self.start()

    def client(self) -> Redis:
        """A client of this server; use it in a ``with`` block, which closes it."""
        return Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=5)


# --------------------------------------------------------------------------- fake Twilio


@dataclass
class FakeTwilioProcess:
    process: Process
    base_url: str

    def control(self, method: str, name: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(  # noqa: S310 - our own local URL
            f"{self.base_url}/_fake/{name}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return json.load(response)

    def configure(self, **settings: Any) -> Any:
        return self.control("POST", "config", settings)

    def messages(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "messages"))

    def attempts(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "attempts"))

    def callbacks(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "callbacks"))


def start_fake_twilio(
    python: str, account_sid: str, auth_token: str, env: dict[str, str], logs: Path
) -> FakeTwilioProcess:
    port = free_port()
    argv = [
        python,
        "-m",
        "feedback_bot.testing.fake_twilio",
        "--port",
        str(port),
        "--account-sid",
        account_sid,
        "--auth-token",
        auth_token,
    ]
    process = start_process("fake_twilio", argv, env, logs / "fake_twilio.log")
    fake = FakeTwilioProcess(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        try:
            fake.control("GET", "config")
            return fake
        except OSError:
            if not process.alive() or time.monotonic() > deadline:
                raise RuntimeError("fake Twilio did not start:\n" + process.tail()) from None
            time.sleep(0.1)


# --------------------------------------------------------------------------- web and workers


def start_gunicorn(port: int, workers: int, env: dict[str, str], logs: Path) -> Process:
    argv = [
        str(VENV_BIN / "gunicorn"),
        "wsgi:app",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--backlog",
        "2048",
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
    ]
    return start_process("gunicorn", argv, env, logs / "gunicorn.log")


def wait_healthy(process: Process, port: int, timeout: float = 300.0) -> None:
    """Until ``/healthz`` answers 200 (the app reached PostgreSQL and Redis)."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/healthz"
    while True:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as response:
            if response.status == 200:
                return
        if not process.alive() or time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not become healthy:\n" + process.tail())
        time.sleep(0.2)


def stop_together(processes: list[Process], timeout: float = 15.0) -> None:
    """SIGTERM every group at once, wait for them together, SIGKILL what is left."""
    for process in processes:
        if process.alive():
            process.kill_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in processes:
        process.stop(timeout=1)


@dataclass
class Slot:
    process: Process
    log_offset: int  # where this process's lines start in the slot's log
    ready: bool = False

    def check_ready(self) -> bool:
        """True once RQ says it is listening (after the app, lingua's models included, loaded)."""
        if not self.ready:
            try:
                with self.process.log_path.open("rb") as log:
                    log.seek(self.log_offset)
                    self.ready = b"*** Listening on" in log.read()
            except OSError:
                pass
        return self.ready


@dataclass
class WorkerPool:
    """``python worker.py`` processes in fixed slots; a dead slot is refilled."""

    python: str
    env: dict[str, str]
    logs: Path
    size: int
    slots: list[Slot] = field(default_factory=list)
    started: int = 0
    kills: int = 0
    unexpected_exits: int = 0

    def start(self) -> WorkerPool:
        self.slots = [self._spawn(index) for index in range(self.size)]
        return self

    def _spawn(self, index: int) -> Slot:
        self.started += 1
        log_path = self.logs / f"worker-{index}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        process = start_process(
            f"worker-{index}-{self.started}", [self.python, "worker.py"], self.env, log_path
        )
        return Slot(process, offset)

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(slot.check_ready() for slot in self.slots):
            dead = [slot.process for slot in self.slots if not slot.process.alive()]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(
                    "RQ workers did not start:\n" + (dead or [self.slots[0].process])[0].tail()
                )
            time.sleep(0.2)

    def ready(self) -> list[int]:
        return [
            i for i, slot in enumerate(self.slots) if slot.process.alive() and slot.check_ready()
        ]

    def kill(self, index: int) -> None:
        """SIGKILL the worker in ``index`` (its RQ scheduler child too), start another."""
        self.slots[index].process.crash()
        self.kills += 1
        self.slots[index] = self._spawn(index)

    def refill(self) -> None:
        """Restart any worker that died on its own (a process manager would)."""
        for index, slot in enumerate(self.slots):
            if not slot.process.alive():
                self.unexpected_exits += 1
                slot.process.stop(timeout=1)
                self.slots[index] = self._spawn(index)

    def processes(self) -> list[Process]:
        return [slot.process for slot in self.slots]


def live_children(pid: int) -> list[psutil.Process]:
    """``pid``'s children, not counting zombies their parent has yet to reap."""
    try:
        found = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    live = []
    for child in found:
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.status() != psutil.STATUS_ZOMBIE:
                live.append(child)
    return live


@dataclass
class ForkedWorkerPool:
    """One ``python worker.py`` that forks ``size`` workers (``WORKER_PROCESSES``); the
    kills land on those workers, and the pool forks their replacements itself."""

    python: str
    env: dict[str, str]
    logs: Path
    size: int
    process: Process | None = None
    started: int = 0
    kills: int = 0
    unexpected_exits: int = 0
    # When each worker was first seen: one forked a moment ago is still connecting.
    seen: dict[int, float] = field(default_factory=dict)
    READY_AFTER_SECONDS = 1.0

    def start(self) -> ForkedWorkerPool:
        self.started += 1
        env = {**self.env, "WORKER_PROCESSES": str(self.size)}
        self.process = start_process(
            f"worker-pool-{self.started}",
            [self.python, "worker.py"],
            env,
            self.logs / "worker-pool.log",
        )
        return self

    def workers(self) -> list[int]:
        assert self.process is not None
        now = time.monotonic()
        pids = [child.pid for child in live_children(self.process.pid)]
        self.seen = {pid: self.seen.get(pid, now) for pid in pids}
        return pids

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.ready()) < self.size:
            assert self.process is not None
            if not self.process.alive() or time.monotonic() > deadline:
                raise RuntimeError("the worker pool did not start:\n" + self.process.tail())
            time.sleep(0.2)

    def ready(self) -> list[int]:
        now = time.monotonic()
        pids = self.workers()
        return [i for i, pid in enumerate(pids) if now - self.seen[pid] >= self.READY_AFTER_SECONDS]

    def kill(self, index: int) -> None:
        """SIGKILL the worker in ``index`` and its RQ scheduler child, if it has one (a
        worker the kernel killed); the pool forks another."""
        pid = self.workers()[index]
        for doomed in [*(child.pid for child in live_children(pid)), pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(doomed, signal.SIGKILL)
        self.kills += 1

    def refill(self) -> None:
        """Start the pool again if it died itself (a process manager would)."""
        if self.process is not None and not self.process.alive():
            self.unexpected_exits += 1
            self.process.stop(timeout=1)
            self.start()

    def processes(self) -> list[Process]:
        return [self.process] if self.process is not None else []
