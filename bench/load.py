"""The load generator: signed Twilio webhooks, open-loop or closed-loop, and percentiles.

Requests are built (and signed: every message has its own MessageSid, so its own
X-Twilio-Signature) before a step starts, so signing costs nothing while measuring.

Open loop: request *i* is due at ``start + i / rate`` whatever happened to the ones before
it, and its latency is measured from that due time, so a server that falls behind is
charged for the queue it causes (no coordinated omission). A pool of threads sends them,
each with its own ``http.client`` connection, kept alive where the server allows it
(gunicorn's sync workers close the connection after every response, so there every request
opens a new TCP connection, as Twilio's would).
"""

from __future__ import annotations

import http.client
import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import count
from typing import Any
from urllib.parse import urlencode

import stack

from feedback_bot.testing.fake_twilio import random_sid, sign_request

SENTENCES = (
    "The streetlights on Mill Road have been out for a week and it feels unsafe at night.",
    "Latarnie na ulicy Młyńskiej nie działają od tygodnia i boję się wracać do domu.",
    "Las farolas de la calle del Molino llevan una semana apagadas y me da miedo volver.",
    "Luminile de pe strada Morii nu mai merg de o săptămână și mi-e frică să vin acasă.",
    "The bins on Oak Street were not collected again this week, and the foxes got at them.",
    "Mae goleuadau'r stryd ar Heol y Felin wedi bod i ffwrdd ers wythnos ac mae'n beryglus.",
    "Please can the bus to the hospital run after six, my mum cannot get home from visiting.",
)

# Each inbound message comes from its own member, so each gets its own acknowledgement and
# the fake Twilio's "to" identifies the message it answers. Valid UK mobile numbers.
_numbers = count()
_numbers_lock = threading.Lock()


def next_sender() -> str:
    with _numbers_lock:
        index = next(_numbers)
    return f"+447912{index:06d}"


@dataclass(frozen=True)
class Request:
    key: str  # the sender's number: the acknowledgement goes back to it
    body: bytes
    headers: dict[str, str]


def webhook_requests(n: int, path: str = stack.INBOUND_PATH) -> list[Request]:
    """``n`` inbound-message webhooks, each from a new member, signed as Twilio signs them."""
    url = stack.PUBLIC_BASE_URL + path
    requests = []
    for _ in range(n):
        sender = next_sender()
        params = {
            "MessageSid": random_sid("SM"),
            "AccountSid": stack.ACCOUNT_SID,
            "From": sender,
            "To": stack.SMS_NUMBER,
            "Body": SENTENCES[len(requests) % len(SENTENCES)],
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }
        requests.append(
            Request(
                key=sender,
                body=urlencode(params).encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": sign_request(stack.AUTH_TOKEN, url, params),
                },
            )
        )
    return requests


@dataclass
class Result:
    key: str
    due: float  # perf_counter when it should have gone (open loop) or went (closed loop)
    sent_wall: float  # time.time() just before the request was written
    sent: float  # perf_counter, same moment
    done: float  # perf_counter when the whole response was read
    status: int  # HTTP status, 0 for a connection error or timeout
    error: str | None = None

    @property
    def latency(self) -> float:
        """From when the request was due: what an open-loop client sees."""
        return self.done - self.due

    @property
    def service_time(self) -> float:
        return self.done - self.sent


class Client:
    """One keep-alive connection per thread; reconnects whenever the server closes it."""

    def __init__(self, port: int, path: str, timeout: float) -> None:
        self.port = port
        self.path = path
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def send(self, request: Request, due: float) -> Result:
        conn = self._connection()
        sent_wall, sent = time.time(), time.perf_counter()
        try:
            conn.request("POST", self.path, request.body, request.headers)
            response = conn.getresponse()
            response.read()
            status, error = response.status, None
            if response.will_close:
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            status, error = 0, type(exc).__name__
        return Result(request.key, due, sent_wall, sent, time.perf_counter(), status, error)


@dataclass
class Step:
    """What one run of the generator saw."""

    mode: str
    offered_rate: float | None  # req/s, open loop only
    concurrency: int
    results: list[Result]
    started: float
    finished: float
    lag_max: float  # open loop: how late the scheduler itself ever submitted a request
    generator_cpu: float  # CPU seconds the generator process used

    def summary(self) -> dict[str, Any]:
        ok = [r for r in self.results if r.status == 200]
        elapsed = max((r.done for r in self.results), default=self.started) - self.started
        latencies = [r.latency for r in ok]
        statuses: dict[str, int] = {}
        for r in self.results:
            label = str(r.status) if r.status else (r.error or "error")
            statuses[label] = statuses.get(label, 0) + 1
        return {
            "mode": self.mode,
            "offered_rate": self.offered_rate,
            "concurrency": self.concurrency,
            "requests": len(self.results),
            "ok": len(ok),
            "errors": len(self.results) - len(ok),
            "statuses": statuses,
            "elapsed_s": round(elapsed, 3),
            "throughput": round(len(ok) / elapsed, 1) if elapsed > 0 else 0.0,
            "latency_s": percentiles(latencies),
            "service_time_s": percentiles([r.service_time for r in ok]),
            "scheduler_lag_max_s": round(self.lag_max, 4),
            "generator_cores": round(self.generator_cpu / elapsed, 2) if elapsed > 0 else 0.0,
        }


def open_loop(
    port: int,
    requests: Sequence[Request],
    rate: float,
    threads: int = 64,
    timeout: float = 30.0,
    path: str = stack.INBOUND_PATH,
) -> Step:
    """Send ``requests`` at a fixed ``rate`` per second, whatever the server does."""
    client = Client(port, path, timeout)
    cpu_before = time.process_time()
    lag_max = 0.0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        start = time.perf_counter() + 0.05
        futures = []
        for index, request in enumerate(requests):
            due = start + index / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            else:
                lag_max = max(lag_max, -wait)
            futures.append(pool.submit(client.send, request, due))
        results = [future.result() for future in futures]
    finished = time.perf_counter()
    return Step(
        "open", rate, threads, results, start, finished, lag_max, time.process_time() - cpu_before
    )


def closed_loop(
    port: int,
    requests: Sequence[Request],
    concurrency: int,
    duration: float | None = None,
    timeout: float = 30.0,
    path: str = stack.INBOUND_PATH,
) -> Step:
    """``concurrency`` clients, each sending its next request as soon as one is answered,
    until the requests run out or ``duration`` seconds have passed."""
    client = Client(port, path, timeout)
    source = iter(requests)
    lock = threading.Lock()
    results: list[Result] = []
    cpu_before = time.process_time()
    start = time.perf_counter()
    stop_at = start + duration if duration else math.inf

    def run() -> None:
        while time.perf_counter() < stop_at:
            with lock:
                request = next(source, None)
            if request is None:
                return
            result = client.send(request, time.perf_counter())
            with lock:
                results.append(result)

    workers = [threading.Thread(target=run) for _ in range(concurrency)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    finished = time.perf_counter()
    return Step(
        "closed",
        None,
        concurrency,
        results,
        start,
        finished,
        0.0,
        time.process_time() - cpu_before,
    )


def warm_up(port: int, workers: int, max_seconds: float = 120.0) -> dict[str, Any]:
    """Until every server worker has answered fast: a feedback-bot web worker loads its
    language models (seconds, hundreds of MB) on the first message it sees."""
    started = time.monotonic()
    batches = 0
    while True:
        batch = closed_loop(port, webhook_requests(4 * workers), concurrency=workers)
        batches += 1
        slowest = max((r.service_time for r in batch.results), default=0.0)
        good = all(r.status == 200 for r in batch.results)
        if (good and slowest < 0.5 and batches >= 2) or time.monotonic() - started > max_seconds:
            return {"batches": batches, "seconds": round(time.monotonic() - started, 1)}


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0-100), linear between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    def r(x: float | None) -> float | None:
        return round(x, 4) if x is not None else None

    return {
        "p50": r(percentile(values, 50)),
        "p95": r(percentile(values, 95)),
        "p99": r(percentile(values, 99)),
        "max": r(max(values)) if values else None,
        "n": len(values),  # type: ignore[dict-item]
    }


def busiest_second(stamps: Sequence[float]) -> int:
    """The most events in any one-second window (window starting at any event)."""
    from bisect import bisect_left

    ordered = sorted(stamps)
    return max(
        (bisect_left(ordered, start + 1.0) - i for i, start in enumerate(ordered)), default=0
    )


def per_second(stamps: Sequence[float]) -> list[int]:
    """Counts per whole second from the first event (for rate plots and steady-state means)."""
    if not stamps:
        return []
    first = min(stamps)
    buckets = [0] * (int(max(stamps) - first) + 1)
    for stamp in stamps:
        buckets[int(stamp - first)] += 1
    return buckets
