"""Time to acknowledgement: a steady stream of inbound messages, and how long each member
waits from sending (the load generator's send time) until the acknowledgement's create call
reaches Twilio (the fake's ``created_at`` for the message to that member).

    .venv/bin/python bench/time_to_ack.py [--rate 50] [--seconds 60] [--web-workers 4]
                                          [--rq-workers 8] [--twilio-delay 0.1] [--pooled]
                                          [--quick]

Every message comes from a new member, so the fake's ``to`` identifies the message an
acknowledgement answers. Writes bench/results/time_to_ack.json.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from typing import Any

import load
import stack

TARGET_P99_S = 1.0


def run(
    web_workers: int,
    rq_workers: int,
    twilio_delay: float,
    send_rate: float,
    rate: float,
    seconds: float,
    drain_timeout: float,
    pooled: bool = False,
) -> dict[str, Any]:
    """One steady run on a fresh stack."""
    with stack.Stack(web_workers, rq_workers, twilio_delay, send_rate, pooled=pooled) as bench:
        with stack.stage(f"starting the stack ({web_workers} web, {rq_workers} RQ workers)"):
            bench.start()
        assert bench.web is not None
        with stack.stage("warm-up"):
            load.warm_up(bench.web.port, web_workers)
        return measure(bench, rate, seconds, drain_timeout)


def measure(
    bench: stack.Stack, rate: float, seconds: float, drain_timeout: float, threads: int = 64
) -> dict[str, Any]:
    """``rate`` messages/s for ``seconds`` on a running, warm stack; also used by
    bench/scaling.py."""
    assert bench.web is not None and bench.fake is not None
    stack.wait_until(lambda: stack.open_outbox_rows() == 0, drain_timeout)
    bench.fake.reset(bench.twilio_delay)
    requests = load.webhook_requests(int(rate * seconds))
    with stack.stage(f"{rate:g} messages/s for {seconds:g}s"):
        cpu_before, wall_before = bench.cpu(), time.monotonic()
        step = load.open_loop(bench.web.port, requests, rate, threads=threads)
    with stack.stage("waiting for every acknowledgement to reach the fake Twilio"):
        drained = stack.wait_until(lambda: stack.open_outbox_rows() == 0, drain_timeout)
        cpu_after = bench.cpu()
        cores = stack.cpu_delta(cpu_before, cpu_after, time.monotonic() - wall_before)
        messages = bench.fake.messages()
    return analyse(step, messages) | {
        "settings": {
            "rate_per_s": rate,
            "seconds": seconds,
            "web_workers": bench.web_workers,
            "rq_workers": bench.rq_workers,
            "rq_pooled": bench.pooled,
            "twilio_delay_s": bench.twilio_delay,
            "send_rate_per_second": bench.send_rate,
        },
        "outbox_drained": drained,
        "cores_during_run_and_drain": cores,
        # Only meaningful when every message was both received and acknowledged.
        "cpu_ms_per_message": (
            stack.cpu_ms_per_item(cpu_before, cpu_after, len(messages)) if drained else None
        ),
        "peak_memory": bench.peak_memory(),
        "target_p99_s": TARGET_P99_S,
    }


def analyse(step: load.Step, messages: list[dict[str, Any]]) -> dict[str, Any]:
    created: dict[str, float] = {}
    duplicates = 0
    for message in messages:
        stamp = datetime.fromisoformat(message["created_at"]).timestamp()
        if message["to"] in created:
            duplicates += 1
        created.setdefault(message["to"], stamp)
    ok = [r for r in step.results if r.status == 200]
    waits = [(r.sent_wall, created[r.key] - r.sent_wall) for r in ok if r.key in created]
    # The same, counted from when the generator meant to send (differs only when the web
    # tier fell behind and requests waited for a free client connection).
    lateness = {r.key: r.sent - r.due for r in ok}
    start = min((sent for sent, _ in waits), default=0.0)
    # p99 per 10-second window: flat means the workers keep up; rising means a queue grows.
    windows: dict[int, list[float]] = {}
    for sent, wait in waits:
        windows.setdefault(int((sent - start) // 10), []).append(wait)
    return {
        "webhook": step.summary(),
        "acknowledged": len(waits),
        "unacknowledged": len(ok) - len(waits),
        "duplicate_acknowledgements": duplicates,
        "time_to_ack_s": load.percentiles([wait for _, wait in waits]),
        "time_to_ack_from_due_time_s": load.percentiles(
            [created[r.key] - r.sent_wall + lateness[r.key] for r in ok if r.key in created]
        ),
        "time_to_ack_p99_by_10s_window": [
            load.percentile(windows[key], 99) for key in sorted(windows)
        ],
    }


def print_report(data: dict[str, Any]) -> None:
    settings, ack, hook = data["settings"], data["time_to_ack_s"], data["webhook"]
    stack.print_table(
        [
            "rate/s",
            "web wk",
            "rq wk",
            "twilio delay",
            "msgs",
            "acked",
            "dupes",
            "ack p50 ms",
            "ack p95 ms",
            "ack p99 ms",
            "hook p99 ms",
        ],
        [
            [
                settings["rate_per_s"],
                settings["web_workers"],
                settings["rq_workers"],
                settings["twilio_delay_s"],
                hook["requests"],
                data["acknowledged"],
                data["duplicate_acknowledgements"],
                ms(ack["p50"]),
                ms(ack["p95"]),
                ms(ack["p99"]),
                ms(hook["latency_s"]["p99"]),
            ]
        ],
        title="time to acknowledgement (send -> create call at the fake Twilio)",
    )
    windows = ", ".join(f"{ms(p):.0f}" for p in data["time_to_ack_p99_by_10s_window"] if p)
    print(f"ack p99 per 10 s window (ms): {windows}")
    stack.print_table(stack.CORE_HEADERS, [stack.core_columns(data["cores_during_run_and_drain"])])
    per = data["cpu_ms_per_message"]
    if per:
        print(
            f"CPU per message (received, stored, acknowledged): web {per['web']} ms, RQ "
            f"{per['rq_workers']} ms, PostgreSQL {per['postgres_bench']} ms, Redis "
            f"{per['redis_server']} ms; {per['app_total']} ms in all"
        )
    p99 = ack["p99"]
    if p99 is not None:
        verdict = "meets" if p99 < data["target_p99_s"] else "MISSES"
        print(f"p99 {p99:.3f} s ({verdict} the < {data['target_p99_s']:g} s target)")


def ms(value: float | None) -> float | None:
    return round(value * 1000, 1) if value is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50, help="inbound messages per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--rq-workers", type=int, default=8, help="python worker.py processes")
    parser.add_argument(
        "--pooled", action="store_true", help="RQ workers as one WORKER_PROCESSES pool"
    )
    parser.add_argument("--twilio-delay", type=float, default=0.1, help="fake Twilio latency, s")
    parser.add_argument("--send-rate", type=float, default=100, help="SEND_RATE_PER_SECOND")
    parser.add_argument("--drain-timeout", type=float, default=90)
    parser.add_argument("--quick", action="store_true", help="20 seconds instead of 60")
    parser.add_argument("--output", default="time_to_ack", help="bench/results/<output>.json")
    args = parser.parse_args()
    if args.quick:
        args.seconds = min(args.seconds, 20)
    data = run(
        args.web_workers,
        args.rq_workers,
        args.twilio_delay,
        args.send_rate,
        args.rate,
        args.seconds,
        args.drain_timeout,
        args.pooled,
    )
    print_report(data)
    print(f"\nwrote {stack.write_results(args.output, data)}")


if __name__ == "__main__":
    main()
