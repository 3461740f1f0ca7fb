"""Start and stop the production stack for benchmarks, and read what the processes used.

Everything runs as separate processes, exactly as deployed: gunicorn (sync workers) serving
``wsgi:app`` (or a comparison app from ``bench/``), ``python worker.py`` RQ workers, and the
fake Twilio (``python -m feedback_bot.testing.fake_twilio``). PostgreSQL and Redis are the
machine's own: the ``bench`` database (schema dropped and migrated per run) and Redis db 14
(flushed per run). Other engineers' ``test`` database and Redis db 15 are never touched.

Every process is started in its own session (process group) and stopped by killing that
group, from ``finally`` blocks and from ``atexit``, so an interrupted benchmark leaves nothing
running.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python")

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "bench"
DATABASE_URL = f"postgresql://postgres@127.0.0.1:5432/{BENCH_DB}"
REDIS_URL = "redis://127.0.0.1:6379/14"  # db 15 belongs to the test suite: never touch it

ACCOUNT_SID = "AC" + "be" * 16
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
SMS_NUMBER = "+441632960000"
PUBLIC_BASE_URL = "https://feedback.example.org"
INBOUND_PATH = "/webhooks/twilio/messages"
# One key per benchmark process: every run starts from an empty database anyway.
ENCRYPTION_KEY = Fernet.generate_key().decode()

# The apps gunicorn can serve, as (--pythonpath, module:variable).
APPS = {
    "feedback": (str(ROOT), "wsgi:app"),
    # The same app with its RQ workers stopped: what the web tier alone can take (intake
    # jobs wait in Redis meanwhile), as on a deployment where workers run elsewhere.
    "feedback-web": (str(ROOT), "wsgi:app"),
    "bare": (str(BENCH), "bare_app:app"),
    "naive": (str(BENCH), "naive_app:app"),
    # The ceiling for a webhook that commits each message before answering.
    "durable": (str(BENCH), "durable_app:app"),
}

_running: list[Process] = []
# When this benchmark started, and how busy the machine already was.
STARTED_UTC = datetime.now(UTC).isoformat(timespec="seconds")
LOAD_AT_START = [round(x, 2) for x in os.getloadavg()]


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

    def pids(self) -> list[int]:
        """This process and its descendants (gunicorn's workers, for the master)."""
        return [self.pid, *descendants(self.pid)]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left."""
        if self in _running:
            _running.remove(self)
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout)
        # The leader may be gone while a worker it forked lingers: kill the group regardless.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def start_process(name: str, argv: list[str], env: dict[str, str]) -> Process:
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{name}.log"
    with log_path.open("wb") as log_file:  # the child keeps its own descriptor
        popen = subprocess.Popen(
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


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


atexit.register(stop_all)
# A SIGTERM to the benchmark unwinds its finally blocks like Ctrl-C does.
signal.signal(signal.SIGTERM, _terminate)


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            frontier.append(child)
    return found


def proc_status_kb(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (VmHWM: peak resident set), 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size now, in kB (/proc/<pid>/smaps_rollup): the pages a process
    shares counted once among all that share them, so that a sum over processes is the
    memory they take together (RSS counts the gunicorn workers' shared models in each)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of ``pids`` (not of their already-reaped children)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- services


def production_env(**overrides: str) -> dict[str, str]:
    """The production configuration, as a deployment would set it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "FLASK_"))}
    env.update(
        FEEDBACK_ENV="production",
        SECRET_KEY="bench-secret-key",
        FEEDBACK_ENCRYPTION_KEY=ENCRYPTION_KEY,
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_SMS_FROM=SMS_NUMBER,
        TWILIO_TIMEOUT_SECONDS="10",
        # Quiet hours would park every "what happened next" message until morning; the
        # benchmark measures the send path, not the calendar. Acks never wait for them.
        QUIET_HOURS_START="0",
        QUIET_HOURS_END="0",
        ORG_NAME="Riverside Council",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


_lock_file: Any = None


def hold_bench_lock() -> None:
    """One benchmark at a time on this machine: they share the bench database and Redis db.
    Held until this process exits."""
    global _lock_file
    if _lock_file is not None:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    _lock_file = (RESULTS / ".lock").open("w")
    try:
        fcntl.flock(_lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("another benchmark is running; waiting for it to finish", flush=True)
        fcntl.flock(_lock_file, fcntl.LOCK_EX)


def reset_database(env: dict[str, str]) -> None:
    """Create the ``bench`` database if needed, empty its schema, run the migrations."""
    hold_bench_lock()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,))
        if exists.fetchone() is None:
            admin.execute(f"CREATE DATABASE {BENCH_DB}")
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "feedback_bot", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def reset_redis() -> None:
    hold_bench_lock()
    Redis.from_url(REDIS_URL).flushdb()


def sql_scalar(query: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(DATABASE_URL) as conn:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None


def open_outbox_rows() -> int:
    """Work the workers still have: outbox rows to send, and stored messages to process."""
    return int(
        sql_scalar(
            "SELECT (SELECT count(*) FROM outbound_message WHERE status IN ('pending', 'sending'))"
            " + (SELECT count(*) FROM inbound_message WHERE disposition = 'received')"
        )
    )


@dataclass
class FakeTwilioProcess:
    process: Process
    base_url: str

    def control(self, method: str, name: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.base_url}/_fake/{name}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    def configure(self, **settings: Any) -> Any:
        return self.control("POST", "config", settings)

    def reset(self, delay: float) -> None:
        self.control("POST", "reset", {})
        self.configure(delay_seconds=delay)

    def messages(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "messages"))


def start_fake_twilio(delay: float) -> FakeTwilioProcess:
    port = free_port()
    process = start_process(
        "fake_twilio",
        [
            PYTHON,
            "-m",
            "feedback_bot.testing.fake_twilio",
            "--port",
            str(port),
            "--account-sid",
            ACCOUNT_SID,
            "--auth-token",
            AUTH_TOKEN,
        ],
        production_env(),
    )
    fake = FakeTwilioProcess(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        try:
            fake.configure(delay_seconds=delay)
            return fake
        except OSError:
            if not process.alive() or time.monotonic() > deadline:
                raise RuntimeError("fake Twilio did not start:\n" + process.tail()) from None
            time.sleep(0.1)


def start_gunicorn(
    app: str, workers: int, env: dict[str, str], port: int | None = None, wait: bool = True
) -> Web:
    pythonpath, target = APPS[app]
    port = port or free_port()
    argv = [
        str(VENV_BIN / "gunicorn"),
        target,
        "--pythonpath",
        pythonpath,
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
    process = start_process(f"gunicorn_{app}", argv, env)
    web = Web(process, port, workers, app)
    if wait:
        web.wait_healthy()
    return web


@dataclass
class Web:
    process: Process
    port: int
    workers: int
    app: str

    def wait_healthy(self, timeout: float = 120.0) -> None:
        """Wait for /healthz to answer 200 (the app reached PostgreSQL and Redis)."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/healthz"
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
            if not self.process.alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"gunicorn ({self.app}) did not become healthy:\n{self.process.tail()}"
                )
            time.sleep(0.2)


def start_rq_workers(count: int, env: dict[str, str]) -> list[Process]:
    """Start ``count`` ``python worker.py`` processes (see ``wait_for_rq_workers``)."""
    return [
        start_process(f"rq_worker_{index}", [PYTHON, "worker.py"], env) for index in range(count)
    ]


def start_rq_pool(count: int, env: dict[str, str]) -> list[Process]:
    """One ``python worker.py`` that forks ``count`` workers (``WORKER_PROCESSES``)."""
    return [
        start_process("rq_pool", [PYTHON, "worker.py"], {**env, "WORKER_PROCESSES": str(count)})
    ]


def wait_for_rq_workers(
    workers: list[Process], timeout: float = 240.0, pooled_workers: int = 0
) -> None:
    """Wait until every worker has registered with Redis, i.e. is listening on its queues,
    and has loaded the language models, which a worker does once its queues are empty:
    a measurement must not start while they still take the CPU. A pool's workers
    (``pooled_workers`` of them, in the one process of ``workers``) have the models from
    the start: their parent loaded them before forking."""
    from rq import Worker

    from feedback_bot.jobs.worker import MODELS_LOADED

    loaded: set[int] = set()  # the workers whose log says so; each log is read until then

    def ready() -> bool:
        registered = Worker.count(connection=Redis.from_url(REDIS_URL))
        if pooled_workers:
            return registered >= pooled_workers
        if registered < len(workers):
            return False
        for worker in workers:
            if worker.pid not in loaded and MODELS_LOADED in worker.tail(1_000_000):
                loaded.add(worker.pid)
        return len(loaded) == len(workers)

    deadline = time.monotonic() + timeout
    while not ready():
        dead = [w for w in workers if not w.alive()]
        if dead or time.monotonic() > deadline:
            raise RuntimeError("RQ workers did not start:\n" + (dead or workers)[0].tail())
        time.sleep(0.2)


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    """PostgreSQL + Redis (reset), the fake Twilio, gunicorn and RQ workers."""

    web_workers: int
    rq_workers: int
    twilio_delay: float
    send_rate: float
    env_overrides: dict[str, str] = field(default_factory=dict)
    # The RQ workers as one pool (WORKER_PROCESSES) instead of separate processes.
    pooled: bool = False
    fake: FakeTwilioProcess | None = None
    web: Web | None = None
    workers: list[Process] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        extra = {"TWILIO_API_BASE_URL": self.fake.base_url} if self.fake else {}
        return production_env(
            SEND_RATE_PER_SECOND=str(self.send_rate), **extra, **self.env_overrides
        )

    def start(self, app: str = "feedback", with_workers: bool = True) -> Stack:
        self.fake = start_fake_twilio(self.twilio_delay)
        reset_redis()
        reset_database(self.env)
        # Each process builds the app (language models included) for several seconds of
        # CPU: start them all, then wait for them all.
        self.web = start_gunicorn(app, self.web_workers, self.env, wait=False)
        if with_workers:
            self.start_workers()
        else:
            self.web.wait_healthy(timeout=240)
        return self

    def start_workers(self) -> None:
        if self.pooled:
            self.workers = start_rq_pool(self.rq_workers, self.env)
        else:
            self.workers = start_rq_workers(self.rq_workers, self.env)
        if self.web is not None:
            self.web.wait_healthy(timeout=240)
        wait_for_rq_workers(self.workers, pooled_workers=self.rq_workers if self.pooled else 0)

    def switch_app(self, app: str, with_workers: bool = False) -> Web:
        """Serve another app with the same gunicorn settings (workers stay as they are)."""
        if self.web is not None:
            self.web.process.stop()
        if not with_workers:
            self.stop_workers()
        assert self.fake is not None
        self.fake.reset(self.twilio_delay)
        self.web = start_gunicorn(app, self.web_workers, self.env)
        return self.web

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers = []

    def stop(self) -> None:
        self.stop_workers()
        if self.web is not None:
            self.web.process.stop()
        if self.fake is not None:
            self.fake.process.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------- what the processes used

    def web_pids(self) -> list[int]:
        return self.web.process.pids() if self.web else []

    def worker_pids(self) -> list[int]:
        return [pid for worker in self.workers for pid in worker.pids()]

    def peak_memory(self) -> dict[str, Any]:
        """Peak RSS (VmHWM) per process, in MiB, read before anything is stopped; and the
        PSS of each group of processes at that moment (``pss_kb``)."""

        def mib(pids: list[int]) -> list[float]:
            return [round(proc_status_kb(pid, "VmHWM") / 1024, 1) for pid in pids]

        def pss_mib(pids: list[int]) -> float:
            return round(sum(pss_kb(pid) for pid in pids) / 1024, 1)

        web = self.web.process if self.web else None
        return {
            "web_master_mib": mib([web.pid])[0] if web else None,
            "web_workers_mib": mib(descendants(web.pid)) if web else [],
            "rq_workers_mib": mib(self.worker_pids()),
            "fake_twilio_mib": mib([self.fake.process.pid])[0] if self.fake else None,
            "web_pss_mib": pss_mib(self.web_pids()),
            "rq_workers_pss_mib": pss_mib(self.worker_pids()),
        }

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: ours by role, PostgreSQL's backends serving the bench database,
        and the whole machine (everybody's work, other engineers' test runs included)."""
        return {
            "web": cpu_seconds(self.web_pids()),
            "rq_workers": cpu_seconds(self.worker_pids()),
            "fake_twilio": cpu_seconds([self.fake.process.pid]) if self.fake else 0.0,
            "load_generator": time.process_time(),
            "postgres_bench": cpu_seconds(bench_backend_pids()),
            "redis_server": cpu_seconds([redis_server_pid()]),
            "machine": machine_busy_seconds(),
        }


def cpu_delta(before: dict[str, float], after: dict[str, float], wall: float) -> dict[str, float]:
    """Cores used by each group over ``wall`` seconds (1.0 = one core busy); ``other`` is
    the rest of the machine: other databases, the kernel, other people's work."""
    if wall <= 0:
        return {key: 0.0 for key in after}
    cores = {key: (after[key] - before.get(key, 0.0)) / wall for key in after}
    ours = sum(value for key, value in cores.items() if key != "machine")
    cores["other"] = max(cores["machine"] - ours, 0.0)
    return {key: round(value, 2) for key, value in cores.items()}


CORE_HEADERS = ["web cpu", "rq cpu", "fake cpu", "pg cpu", "redis cpu", "gen cpu", "other cpu"]
CORE_KEYS = (
    "web",
    "rq_workers",
    "fake_twilio",
    "postgres_bench",
    "redis_server",
    "load_generator",
    "other",
)


def core_columns(cores: dict[str, float]) -> list[float]:
    keys = CORE_KEYS
    return [cores.get(key, 0.0) for key in keys]


OUR_ROLES = ("web", "rq_workers", "postgres_bench", "redis_server", "fake_twilio")


def cpu_ms_per_item(
    before: dict[str, float], after: dict[str, float], items: int
) -> dict[str, float] | None:
    """Our CPU milliseconds per message (or request), by role, plus the total for the
    app's own processes (web, workers, PostgreSQL, Redis; not the fake Twilio). Far less
    sensitive to other people's load than wall-clock rates are."""
    if items <= 0:
        return None
    per = {key: (after[key] - before[key]) * 1000 / items for key in OUR_ROLES}
    per["app_total"] = sum(v for k, v in per.items() if k != "fake_twilio")
    return {key: round(value, 1) for key, value in per.items()}


@functools.cache
def redis_server_pid() -> int:
    """The machine's redis-server (shared: other engineers' tests use db 15 of it)."""
    return int(Redis.from_url(REDIS_URL).info("server")["process_id"])


def bench_backend_pids() -> list[int]:
    """PostgreSQL backends connected to the bench database (pooled, so long-lived)."""
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (BENCH_DB,),
            ).fetchall()
    except psycopg.Error:
        return []
    return [int(pid) for (pid,) in rows]


def machine_busy_seconds() -> float:
    """CPU seconds every core spent not idle since boot (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal: everything but idle and iowait
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
    return busy / CLOCK_TICKS


def app_in_process(env: dict[str, str]) -> Any:
    """The app, built in this process from the same production settings as the services
    (without preloading language models, which seeding never uses)."""
    from feedback_bot import create_app
    from feedback_bot.config import from_environment

    config = from_environment(env, ROOT / "instance")
    config["LANGUAGE_DETECTION_PRELOAD"] = False
    return create_app(config)


def wait_until(condition: Any, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


# --------------------------------------------------------------------------- reporting


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = proc_status_kb_from_meminfo("MemTotal")
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "started_utc": STARTED_UTC,
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": LOAD_AT_START,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def proc_status_kb_from_meminfo(key: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def code_fingerprint() -> dict[str, str]:
    """Which version of the app was measured (the code changes while people work)."""
    files = sorted([*(ROOT / "feedback_bot").rglob("*.py"), ROOT / "wsgi.py", ROOT / "worker.py"])
    digest = hashlib.sha256()
    newest = 0.0
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
        newest = max(newest, path.stat().st_mtime)
    newest_utc = datetime.fromtimestamp(newest, UTC).isoformat(timespec="seconds")
    return {"sha256_of_app_sources": digest.hexdigest()[:16], "newest_source_mtime_utc": newest_utc}


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"benchmark": name, "machine": machine(), "code": code_fingerprint(), **data}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def print_table(headers: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    cells = [[_fmt(value) for value in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    if title:
        print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


@contextlib.contextmanager
def stage(message: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"... {message}", end="", flush=True)
    try:
        yield
    finally:
        print(f" ({time.monotonic() - started:.1f}s)", flush=True)
