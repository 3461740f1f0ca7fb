"""The fault suite: the production stack, many members, and everything going wrong at once.

    python faults/run.py                  # 2,000 members
    python faults/run.py --full           # 10,000 members
    python faults/run.py --messages 300 --kills 1 --error-500 0.1 --error-429 0.05
                                          # what tests/test_fault_suite.py runs in CI
    python faults/run.py --pooled         # the workers as one WORKER_PROCESSES pool

It starts gunicorn (``wsgi:app``, 2 sync workers) on PostgreSQL (database ``faults``, emptied
and migrated) and a private ``redis-server``, 2 RQ workers (``python worker.py``) and the
fake Twilio as its own process, all in production mode. Then N members each send one
message (SMS or WhatsApp, ten languages), a fifth of them delivered two or three times,
signed as Twilio signs, from a thread pool. Meanwhile:

* the fake Twilio fails 20% of create calls with 500, 10% with 429, hangs 5% past the
  client's timeout and accepts-then-drops the connection on ~1%;
* an RQ worker is killed with SIGKILL every few seconds (with its RQ scheduler child, as
  a container dies) and a new one started; with ``--pooled``, a worker the pool forked
  (and its scheduler child), which the pool replaces itself;
* Redis is killed once and a fresh, empty one started on the same port;
* the database refuses connections once for a few seconds (ALLOW_CONNECTIONS false and
  every session terminated); webhooks then must still answer 200 with an inline ack.

When the outbox has drained it checks, from the fake Twilio's own records and the webhook
answers, that every member was acknowledged exactly once, in their language, on their
channel, and that every MessageSid is stored once (``faults/check.py`` says how inline
TwiML replies count). Exit status 0 only if all of that holds; 2 if PostgreSQL is not
reachable. Process logs are kept (``--logs``, else a temporary folder it prints).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"

if __name__ == "__main__" and VENV.is_dir() and Path(sys.prefix).resolve() != VENV.resolve():
    # Run with the project's virtualenv whatever ``python`` started us.
    python = VENV / "bin" / "python"
    os.execv(python, [str(python), *sys.argv])  # noqa: S606 - re-exec ourselves

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from faults import stack  # noqa: E402
from faults.check import Verdict, verify  # noqa: E402
from faults.load import (  # noqa: E402
    SMS_NUMBER,
    WHATSAPP_NUMBER,
    Member,
    Sender,
    make_deliveries,
    make_members,
)

ACCOUNT_SID = "AC" + "fa" * 16
AUTH_TOKEN = "faults-auth-token-0123456789abcdef"  # noqa: S105 - the fake's, not a secret
SPOOL_KEYS = ("feedback:spool", "feedback:spool:processing")
INTERIM_UPDATE_DAYS = 21


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Drive the production stack through Twilio, Redis, worker and database "
        "failures and check every member is acknowledged exactly once.",
    )
    parser.add_argument("--messages", type=int, default=2000, help="members (one message each)")
    parser.add_argument("--full", action="store_true", help="10,000 members")
    parser.add_argument("--concurrency", type=int, default=8, help="webhook sender threads")
    # Paced, so that sending lasts long enough for the Redis restart and the database blip
    # to land among the webhooks (flat out, 2,400 deliveries take seconds).
    parser.add_argument("--rate", type=float, default=40.0, help="deliveries/s (0: flat out)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument(
        "--pooled", action="store_true", help="the RQ workers as one WORKER_PROCESSES pool"
    )
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between kills")
    parser.add_argument("--kills", type=int, default=0, help="at most this many kills (0: any)")
    parser.add_argument("--redis-restarts", type=int, default=1, choices=(0, 1))
    parser.add_argument("--redis-at", type=float, default=0.3, help="fraction of deliveries")
    parser.add_argument("--redis-down", type=float, default=1.0, help="seconds Redis is gone")
    parser.add_argument("--db-blips", type=int, default=1, choices=(0, 1))
    parser.add_argument("--db-at", type=float, default=0.6, help="fraction of deliveries")
    parser.add_argument("--db-down", type=float, default=4.0, help="seconds the DB is closed")
    parser.add_argument("--error-500", type=float, default=0.20)
    parser.add_argument("--error-429", type=float, default=0.10)
    parser.add_argument("--hang", type=float, default=0.05)
    parser.add_argument("--drop", type=float, default=0.01, help="accept, then drop")
    parser.add_argument("--twilio-timeout", type=float, default=2.0)
    parser.add_argument("--hang-seconds", type=float, default=5.0)
    parser.add_argument("--stuck-seconds", type=int, default=3, help="SENDING_STUCK_SECONDS")
    parser.add_argument("--send-rate", type=float, default=50.0, help="SEND_RATE_PER_SECOND")
    parser.add_argument("--no-callbacks", action="store_true", help="no status callbacks")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--drain-timeout",
        type=float,
        help="the longest wait for the outbox, backoffs included (3600; 7200 with --full);"
        f" due work that stalls for {STALL_SECONDS:.0f}s fails at once",
    )
    parser.add_argument("--settle", type=float, default=8.0, help="seconds to watch after")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--logs", type=Path, help="process logs (default: a temporary dir)")
    parser.add_argument(
        "--wait", type=float, default=1800.0, help="seconds to wait for another run to end"
    )
    args = parser.parse_args(argv)
    if args.full:
        args.messages = 10_000
    if args.drain_timeout is None:
        # Two workers, one of them killed every few seconds, clear the 10,000-member
        # backlog at a few messages a second; and a row that failed eight or nine times
        # in a row waits 4 to 15 minutes for its next attempt, as it is meant to.
        args.drain_timeout = 7200.0 if args.full else 3600.0
    return args


def production_env(
    args: argparse.Namespace, redis_url: str, fake_url: str, web_port: int, work: Path
) -> dict[str, str]:
    """The production configuration, as a deployment sets it; nothing inherited overrides it."""
    from cryptography.fernet import Fernet

    inherited_prefixes = ("TEST_", "FLASK_", "FEEDBACK_", "TWILIO_", "SEND_", "SWEEP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited_prefixes)}
    for name in ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "SPOOL_DIR", "SECRET_KEY"):
        env.pop(name, None)
    env.update(
        FEEDBACK_ENV="production",
        SECRET_KEY="faults-secret-key",  # noqa: S106 - a throwaway stack
        FEEDBACK_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        FEEDBACK_INSTANCE_PATH=str(work / "instance"),
        DATABASE_URL=stack.DATABASE_URL,
        REDIS_URL=redis_url,
        # Twilio reaches us here: status callbacks are signed for it, and so are webhooks.
        PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_SMS_FROM=SMS_NUMBER,
        TWILIO_WHATSAPP_FROM=WHATSAPP_NUMBER,
        TWILIO_API_BASE_URL=fake_url,
        TWILIO_TIMEOUT_SECONDS=str(args.twilio_timeout),
        SWEEP_INTERVAL_SECONDS="1",
        SENDING_STUCK_SECONDS=str(args.stuck_seconds),
        SEND_RATE_PER_SECOND=str(args.send_rate),
        SPOOL_DIR=str(work / "spool"),
        ORG_NAME="Riverside Council",
        PYTHONUNBUFFERED="1",
    )
    return env


# --------------------------------------------------------------------------- chaos


class Chaos(threading.Thread):
    """Kills workers on a timer; restarts Redis and closes the database at set progress."""

    def __init__(
        self,
        args: argparse.Namespace,
        pool: stack.WorkerPool | stack.ForkedWorkerPool,
        redis: stack.RedisServer,
        progress: Callable[[], float],
        rng: random.Random,
    ) -> None:
        super().__init__(name="chaos", daemon=True)
        self.args = args
        self.pool = pool
        self.redis = redis
        self.progress = progress
        self.rng = rng
        self.started = time.monotonic()
        self.events: list[tuple[float, str]] = []
        self.db_blips = 0
        self.db_closed_for = 0.0
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=60)

    def event(self, text: str) -> None:
        stamp = time.monotonic() - self.started
        self.events.append((round(stamp, 1), text))
        print(f"  [{stamp:6.1f}s] {text}", flush=True)

    def next_kill_delay(self) -> float:
        return self.args.kill_every * self.rng.uniform(0.5, 1.5)

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
            self.event(f"chaos failed: {exc!r}")

    def _run(self) -> None:
        args = self.args
        next_kill = time.monotonic() + self.next_kill_delay()
        redis_left, db_left = args.redis_restarts, args.db_blips
        while not self._halt.wait(0.1):
            done = self.progress()
            if redis_left and done >= args.redis_at:
                redis_left -= 1
                self.event("Redis killed; everything it held is gone")
                self.redis.restart(args.redis_down)
                self.event(f"a fresh, empty Redis is up (after {args.redis_down:.1f}s)")
            if db_left and done >= args.db_at:
                db_left -= 1
                self.database_blip()
            may_kill = args.kill_every > 0 and (args.kills == 0 or self.pool.kills < args.kills)
            # Only while every worker is up: the app takes seconds to load (more on a busy
            # machine), and killing workers that are still starting tests nothing.
            ready = self.pool.ready()
            if may_kill and time.monotonic() >= next_kill and len(ready) == self.pool.size:
                index = self.rng.choice(ready)
                self.pool.kill(index)
                self.event(f"worker {index} SIGKILLed (kill {self.pool.kills}); a new one starts")
                next_kill = time.monotonic() + self.next_kill_delay()
            self.pool.refill()

    def database_blip(self) -> None:
        started = time.monotonic()
        stack.allow_connections(False)
        try:
            terminated = stack.terminate_backends()
            self.event(f"database closed: new connections refused, {terminated} terminated")
            # Keep terminating: a session that slipped in before the ALTER must not survive.
            while time.monotonic() - started < self.args.db_down:
                time.sleep(0.5)
                stack.terminate_backends()
        finally:
            stack.allow_connections(True)
        self.db_blips += 1
        self.db_closed_for = time.monotonic() - started
        self.event(f"database open again after {self.db_closed_for:.1f}s")


# --------------------------------------------------------------------------- observation


def open_rows() -> int:
    """Outbox rows still to send, and stored messages no intake job has processed yet."""
    [(count,)] = stack.query(
        "SELECT (SELECT count(*) FROM outbound_message WHERE status IN ('pending', 'sending'))"
        " + (SELECT count(*) FROM inbound_message WHERE disposition = 'received')"
    )
    return int(count)


def spooled(redis: stack.RedisServer, spool_dir: Path) -> int:
    with redis.client() as client:
        in_redis = sum(int(client.llen(key)) for key in SPOOL_KEYS)
    on_disk = len(list(spool_dir.glob("*.spool"))) if spool_dir.is_dir() else 0
    return in_redis + on_disk


def drained(redis: stack.RedisServer, spool_dir: Path) -> bool:
    try:
        return open_rows() == 0 and spooled(redis, spool_dir) == 0
    except Exception:  # the database or Redis may be down this very moment
        return False


def outbox_counts() -> dict[str, int]:
    rows = stack.query(
        "SELECT kind || ':' || status, count(*) FROM outbound_message GROUP BY 1 ORDER BY 1"
    )
    return {key: int(count) for key, count in rows}


def stored_messages() -> dict[str, tuple[int, int | None]]:
    rows = stack.query(
        "SELECT message_sid, count(*), max(item_id) FROM inbound_message GROUP BY message_sid"
    )
    return {sid: (int(count), item_id) for sid, count, item_id in rows}


def progress_line(sender: Sender, total: int) -> str:
    try:
        inbound = stack.query("SELECT count(*) FROM inbound_message")[0][0]
        outbox = outbox_counts()
    except Exception:
        return f"deliveries {sender.done}/{total}  (database unreachable)"
    statuses: dict[str, int] = {}
    for key, count in outbox.items():
        status = key.split(":", 1)[1]
        statuses[status] = statuses.get(status, 0) + count
    summary = " ".join(f"{status}={count}" for status, count in sorted(statuses.items()))
    return f"deliveries {sender.done}/{total}  stored {inbound}  outbox {summary}"


# --------------------------------------------------------------------------- expectations


def expectations(redis_url: str) -> tuple[Callable[..., str], Callable[..., str], Any]:
    """The acknowledgement texts each member should get, rendered by the app itself."""
    from cryptography.fernet import Fernet

    from feedback_bot import create_app
    from feedback_bot.config import normalise_database_url
    from feedback_bot.messaging.templates import render
    from feedback_bot.refs import encode_ref

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "faults-checker",
            "FEEDBACK_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(stack.DATABASE_URL),
            "REDIS_URL": redis_url,
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            # Never used to send; set so that the app does not announce a console transport.
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "LANGUAGE_DETECTION_PRELOAD": False,
        }
    )
    cache: dict[tuple[str, ...], str] = {}

    def ack(member: Member, item_id: int) -> str:
        key = ("ack", member.locale, str(item_id))
        if key not in cache:
            with app.app_context():
                cache[key] = render(
                    "ack", member.locale, ref=encode_ref(item_id), days=INTERIM_UPDATE_DAYS
                )
        return cache[key]

    def inline(member: Member) -> str:
        key = ("ack_inline", member.locale)
        if key not in cache:
            with app.app_context():
                cache[key] = render("ack_inline", member.locale, days=INTERIM_UPDATE_DAYS)
        return cache[key]

    return ack, inline, app


# --------------------------------------------------------------------------- the run


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)  # noqa: S311 - reproducible load, not secrecy
    work = Path(args.logs) if args.logs else Path(tempfile.mkdtemp(prefix="faults-"))
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    print(f"fault suite: {args.messages} members; logs in {logs}", flush=True)
    python = sys.executable
    redis = stack.RedisServer(stack.free_port(), work / "redis")
    fake: stack.FakeTwilioProcess | None = None
    web: stack.Process | None = None
    pool: stack.WorkerPool | stack.ForkedWorkerPool | None = None
    chaos: Chaos | None = None
    results: dict[str, Any] = {"settings": {k: str(v) for k, v in vars(args).items()}}
    began = time.monotonic()
    try:
        redis.start()
        fake = stack.start_fake_twilio(python, ACCOUNT_SID, AUTH_TOKEN, dict(os.environ), logs)
        web_port = stack.free_port()
        env = production_env(args, redis.url, fake.base_url, web_port, work)
        stack.prepare_database(env)
        # gunicorn and the workers load the app (lingua's models too) side by side.
        web = stack.start_gunicorn(web_port, args.web_workers, env, logs)
        pool_class = stack.ForkedWorkerPool if args.pooled else stack.WorkerPool
        pool = pool_class(python, env, logs, args.rq_workers).start()
        stack.wait_healthy(web, web_port)
        pool.wait_ready()
        print(f"stack up in {time.monotonic() - began:.0f}s", flush=True)
        fake.configure(
            error_500=args.error_500,
            error_429=args.error_429,
            hang=args.hang,
            drop_after_accept=args.drop,
            seed=args.seed,
            hang_seconds=args.hang_seconds,
            auto_callbacks=not args.no_callbacks,
        )

        members = make_members(args.messages, rng)
        deliveries = make_deliveries(members, rng)
        sender = Sender(
            port=web_port,
            public_base_url=env["PUBLIC_BASE_URL"],
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            concurrency=args.concurrency,
            rate=args.rate,
        )
        print(
            f"sending {len(members)} messages as {len(deliveries)} deliveries "
            f"({args.concurrency} threads)",
            flush=True,
        )
        chaos = Chaos(args, pool, redis, lambda: sender.done / len(deliveries), rng)
        chaos.start()
        sending = threading.Thread(target=sender.run, args=(deliveries,), name="sender")
        sending.start()
        last_report = time.monotonic()
        while sending.is_alive():
            sending.join(timeout=0.5)
            if time.monotonic() - last_report >= 5:
                print("  " + progress_line(sender, len(deliveries)), flush=True)
                last_report = time.monotonic()
        sent_in = sender.last_answered_at - sender.first_sent_at
        print(f"all deliveries answered in {sent_in:.1f}s; waiting for the outbox to drain")

        spool_dir = Path(env["SPOOL_DIR"])
        drained_at = wait_for_drain(args, redis, spool_dir, sender, len(deliveries), chaos)
        chaos.stop()
        if chaos.error is not None:
            raise RuntimeError(f"the chaos thread failed: {chaos.error!r}")
        # Watch a while longer: a late duplicate (a send still in flight) would show now.
        time.sleep(args.settle)
        if drained_at is not None and not drained(redis, spool_dir):
            print("the outbox opened again while settling", flush=True)
            drained_at = wait_for_drain(args, redis, spool_dir, sender, len(deliveries), None)

        attempts = fake.attempts()
        callbacks = fake.callbacks()
        sent_at_twilio = fake.messages()
        ack, inline, _app = expectations(redis.url)
        verdict = verify(
            members,
            sender.answers,
            sent_at_twilio,
            stored_messages(),
            outbox_counts(),
            ack,
            inline,
            origin=chaos.started,
        )
        results.update(
            verdict=verdict.as_dict(),
            sending_seconds=round(sent_in, 1),
            drain_seconds=(round(drained_at - sender.last_answered_at, 1) if drained_at else None),
            drained=drained_at is not None,
            faults={
                "worker_kills": pool.kills,
                "worker_unexpected_exits": pool.unexpected_exits,
                "redis_restarts": redis.restarts,
                "db_blips": chaos.db_blips,
                "db_closed_seconds": round(chaos.db_closed_for, 1),
                "twilio_create_outcomes": count_by(attempts, "outcome"),
                "status_callbacks": count_by(callbacks, "http_status"),
            },
            events=chaos.events,
            logs=str(logs),
        )
        report(results, verdict)
        return results
    finally:
        if chaos is not None and chaos.is_alive():
            chaos.stop()
        with contextlib.suppress(Exception):
            stack.allow_connections(True)
        stack.stop_together(
            [
                *(pool.processes() if pool is not None else []),
                *([web] if web is not None else []),
                *([fake.process] if fake is not None else []),
            ]
        )
        redis.stop()
        stack.stop_all()
        print(f"stack stopped; {time.monotonic() - began:.0f}s in all", flush=True)


# A row waiting out its retry's backoff (up to SEND_BACKOFF_MAX_SECONDS, 900 s, after
# many failures in a row) is the outbox working as designed, and the wait goes on; work
# that is due, with nothing in the outbox or intake changing for this long, is a stall.
STALL_SECONDS = 180.0


def due_work() -> int:
    """Rows due to be sent or being sent, and stored messages not yet processed."""
    [(count,)] = stack.query(
        "SELECT (SELECT count(*) FROM outbound_message WHERE status = 'sending'"
        "  OR (status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= now())))"
        " + (SELECT count(*) FROM inbound_message WHERE disposition = 'received')"
    )
    return int(count)


def progress_marker() -> tuple[Any, ...]:
    """Changes whenever a worker claims, sends, retries or processes anything."""
    [marker] = stack.query(
        "SELECT (SELECT max(updated_at) FROM outbound_message),"
        " (SELECT count(*) FROM outbound_message),"
        " (SELECT count(*) FROM inbound_message WHERE disposition = 'received')"
    )
    return tuple(marker)


def wait_for_drain(
    args: argparse.Namespace,
    redis: stack.RedisServer,
    spool_dir: Path,
    sender: Sender,
    total: int,
    chaos: Chaos | None,
) -> float | None:
    """Until no outbox row is pending or sending and the spool is empty; None if due work
    stalls for ``STALL_SECONDS`` or the whole wait exceeds ``--drain-timeout``."""
    deadline = time.monotonic() + args.drain_timeout
    last_report = time.monotonic()
    marker: tuple[Any, ...] | None = None
    changed_at = time.monotonic()
    while True:
        if drained(redis, spool_dir):
            # Twice, a sweep apart: a spooled message is between Redis and the database.
            time.sleep(1.5)
            if drained(redis, spool_dir):
                return time.monotonic() - 1.5
        if chaos is not None and chaos.error is not None:
            return None
        if time.monotonic() > deadline:
            print(f"NOT DRAINED after {args.drain_timeout:.0f}s", flush=True)
            return None
        now_marker: tuple[Any, ...] | None
        try:
            now_marker, due = progress_marker(), due_work()
        except Exception:  # the database may be down this very moment
            now_marker, due = marker, 1
        if now_marker != marker or due == 0:
            marker, changed_at = now_marker, time.monotonic()
        elif time.monotonic() - changed_at > STALL_SECONDS:
            print(f"STALLED: {due} due, nothing changed for {STALL_SECONDS:.0f}s", flush=True)
            return None
        if time.monotonic() - last_report >= 5:
            waiting = "" if due else "  (waiting out a retry's backoff)"
            print("  " + progress_line(sender, total) + waiting, flush=True)
            last_report = time.monotonic()
        time.sleep(0.5)


def count_by(records: list[dict[str, Any]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        value = str(record.get(key))
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def report(results: dict[str, Any], verdict: Verdict) -> None:
    faults = results["faults"]
    outcomes = faults["twilio_create_outcomes"]
    lines = [
        "",
        "== fault suite results ==",
        f"messages sent in      {verdict.unique_messages} unique / {verdict.deliveries} deliveries"
        f" ({verdict.webhook_retries} webhook retries; answers {verdict.webhook_statuses})",
        f"answered inline       {verdict.deliveries_answered_inline} deliveries from "
        f"{verdict.members_answered_inline} members while the database was closed",
        f"acknowledged          {verdict.acknowledged} of {verdict.unique_messages} members "
        f"({verdict.acknowledged_by_api} by API, {verdict.acknowledged_inline} inline only)",
        f"duplicated            {verdict.duplicated} (API twice {verdict.duplicated_api_twice}, "
        f"inline and API {verdict.duplicated_inline_and_api})",
        f"  if every answer     {verdict.every_answer_duplicated} duplicated (inline twice "
        f"{verdict.every_answer_inline_twice}, inline and API "
        f"{verdict.every_answer_inline_and_api}), {verdict.every_answer_unacknowledged} "
        "unacknowledged: had Twilio acted on every 200 answer, not only the last delivery's",
        f"lost                  {verdict.lost} (stored {verdict.stored} of "
        f"{verdict.unique_messages} MessageSids; stored twice {verdict.stored_more_than_once})",
        f"unacknowledged        {verdict.unacknowledged}",
        f"wrong language        {verdict.wrong_language} (wrong channel {verdict.wrong_channel},"
        f" unexpected recipients {verdict.unexpected_recipients})",
        f"time to drain         {results['drain_seconds']}s after the last webhook answer "
        f"(sending took {results['sending_seconds']}s)",
        f"faults                {faults['worker_kills']} worker kills, "
        f"{faults['redis_restarts']} Redis restart, {faults['db_blips']} database blip "
        f"({faults['db_closed_seconds']}s), {faults['worker_unexpected_exits']} workers died "
        "on their own",
        f"twilio create calls   {outcomes}",
        f"status callbacks      {faults['status_callbacks']}",
        f"outbox                {verdict.outbox}",
    ]
    for kind, examples in verdict.examples.items():
        lines.append(f"e.g. {kind}: {examples}")
    lines.append("PASS" if verdict.ok and results["drained"] else f"FAIL: {verdict.problems()}")
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reason = stack.postgres_reachable()
    if reason:
        print(reason, file=sys.stderr)
        return 2

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    # A SIGTERM unwinds the finally blocks that stop every process, as Ctrl-C does.
    signal.signal(signal.SIGTERM, terminate)
    try:
        with stack.exclusive_run(args.wait):
            results = run(args)
    finally:
        stack.stop_all()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    ok = results["verdict"]["ok"] and results["drained"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
