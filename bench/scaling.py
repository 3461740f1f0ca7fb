"""Scaling: the ingest ladder and time-to-acknowledgement again, with 1, 2 and 4 gunicorn
workers and as many RQ workers, one fresh stack per size.

    .venv/bin/python bench/scaling.py [--sizes 1,2,4] [--twilio-delay 0.1] [--quick]

A shortened version of bench/ingest.py (feedback-bot only) and bench/time_to_ack.py, to see
how throughput grows with workers. Writes bench/results/scaling.json.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import ingest
import load
import stack
import time_to_ack

# One RQ worker clears about 8 messages a second at 0.1 s of Twilio latency.
BACKLOG_TIMEOUT = 600.0


def run_size(
    size: int,
    twilio_delay: float,
    send_rate: float,
    rates: list[float],
    step_seconds: float,
    ack_rate: float,
    ack_seconds: float,
    drain_timeout: float,
) -> dict[str, Any]:
    with stack.Stack(size, size, twilio_delay, send_rate) as bench:
        with stack.stage(f"starting the stack ({size} web, {size} RQ workers)"):
            bench.start()
        assert bench.web is not None
        ingested = ingest.measure_app(
            bench,
            "feedback",
            rates,
            step_seconds,
            capacity_seconds=step_seconds,
            settle_seconds=drain_timeout,
            threads=64,
        )
        # The webhook takes messages faster than the workers process them, so the capacity
        # run leaves a backlog of intake jobs. Time how long the workers take to clear it
        # (their throughput), so that the acknowledgement run starts from an empty queue.
        with stack.stage("workers clearing the backlog the capacity run left"):
            backlog = stack.open_outbox_rows()
            started = time.monotonic()
            stack.wait_until(lambda: stack.open_outbox_rows() == 0, BACKLOG_TIMEOUT)
            cleared_in = time.monotonic() - started
            left = stack.open_outbox_rows()
        load.warm_up(bench.web.port, size)
        acked = time_to_ack.measure(bench, ack_rate, ack_seconds, drain_timeout)
    return {
        "size": size,
        "ingest": ingested,
        "backlog": {
            "messages": backlog,
            "cleared_s": round(cleared_in, 1),
            "processed_per_s": round(backlog / cleared_in, 1) if cleared_in > 0 else None,
            "left": left,
        },
        "time_to_ack": acked,
    }


def row(result: dict[str, Any]) -> list[Any]:
    ingested, acked = result["ingest"], result["time_to_ack"]
    steps = ingested["steps"]
    sustained = max((s["offered_rate"] for s in steps if not ingest.saturated(s)), default=None)
    at_50 = next((s for s in steps if s["offered_rate"] == 50), None)
    hook = acked["webhook"]
    return [
        result["size"],
        result["size"],
        ingested["capacity"]["throughput"],
        sustained,
        f"{result['backlog']['messages']} in {result['backlog']['cleared_s']:g}s",
        ingest.ms(at_50["latency_s"]["p99"]) if at_50 else None,
        hook["throughput"],
        f"{acked['acknowledged']}/{hook['requests']}",
        time_to_ack.ms(acked["time_to_ack_s"]["p50"]),
        time_to_ack.ms(acked["time_to_ack_s"]["p99"]),
        (acked["cpu_ms_per_message"] or {}).get("app_total"),
        ingested["capacity"]["cores"]["other"],
        round(
            sum(ingested["peak_memory"]["web_workers_mib"])
            + sum(ingested["peak_memory"]["rq_workers_mib"])
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,2,4", help="gunicorn = RQ worker counts")
    parser.add_argument("--twilio-delay", type=float, default=0.1)
    parser.add_argument("--send-rate", type=float, default=100, help="SEND_RATE_PER_SECOND")
    parser.add_argument("--rates", default="25,50,100", help="ingest ladder, req/s")
    parser.add_argument("--step-seconds", type=float, default=4)
    parser.add_argument("--ack-rate", type=float, default=50)
    parser.add_argument("--ack-seconds", type=float, default=10)
    parser.add_argument("--drain-timeout", type=float, default=20)
    parser.add_argument("--quick", action="store_true", help="3 s steps, 6 s of acks")
    parser.add_argument("--output", default="scaling", help="bench/results/<output>.json")
    args = parser.parse_args()
    if args.quick:
        args.step_seconds, args.ack_seconds, args.drain_timeout = 3, 6, 15
    results = [
        run_size(
            size,
            args.twilio_delay,
            args.send_rate,
            [float(r) for r in args.rates.split(",")],
            args.step_seconds,
            args.ack_rate,
            args.ack_seconds,
            args.drain_timeout,
        )
        for size in (int(s) for s in args.sizes.split(","))
    ]
    stack.print_table(
        [
            "gunicorn",
            "RQ",
            "capacity/s",
            "sustained/s",
            "backlog cleared",
            "p99 ms @50",
            f"hook/s @{args.ack_rate:g}",
            "acked",
            "ack p50 ms",
            "ack p99 ms",
            "cpu ms/msg",
            "other cpu",
            "peak RSS MiB",
        ],
        [row(result) for result in results],
        title=(
            f"scaling (capacity: closed loop; sustained: highest ladder step kept up with; "
            f"acks: {args.ack_rate:g}/s for {args.ack_seconds:g}s, "
            f"counted if they reached Twilio within {args.drain_timeout:g}s; cpu ms/msg: app "
            f"CPU per acknowledged message; other cpu: cores used by everything else on the "
            f"machine during the capacity run)"
        ),
    )
    data = {
        "settings": {
            "twilio_delay_s": args.twilio_delay,
            "send_rate_per_second": args.send_rate,
            "rates": args.rates,
            "step_seconds": args.step_seconds,
            "ack_rate": args.ack_rate,
            "ack_seconds": args.ack_seconds,
            "drain_timeout_s": args.drain_timeout,
        },
        "sizes": results,
    }
    print(f"\nwrote {stack.write_results(args.output, data)}")


if __name__ == "__main__":
    main()
