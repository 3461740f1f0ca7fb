"""Webhook ingest: signed inbound webhooks at increasing load, against the production stack,
a bare Flask app (the floor), the least a webhook can do that commits each message before
answering ("durable", bench/durable_app.py: the ceiling for any design that keeps the
promise) and the naive tutorial design (Twilio called in the webhook).

feedback-bot is measured twice: with its RQ workers processing every message on the same
cores ("feedback"), and with them stopped ("feedback-web": the web tier alone, as when the
workers run on other machines; the intake jobs wait in Redis).

    .venv/bin/python bench/ingest.py [--web-workers 4] [--rq-workers 4] [--twilio-delay 0.1]
                                     [--rates 25,50,100,200,400] [--quick]

For each app: a warm-up, then an open-loop ladder of offered rates (each for --step-seconds;
the ladder stops at the first step the app cannot keep up with), then a closed-loop run
that finds its capacity. The headline ratio is feedback-bot's capacity over the bare app's,
both under the same gunicorn settings on the same machine. Writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from typing import Any

import load
import stack

APPS = ("feedback", "feedback-web", "bare", "durable", "naive")


def saturated(summary: dict[str, Any]) -> bool:
    """The app did not keep up: it fell behind the offered rate or refused requests."""
    offered = summary["offered_rate"] or 0
    errors = summary["errors"] / max(summary["requests"], 1)
    return summary["throughput"] < 0.9 * offered or errors > 0.01


def settle(app: str, timeout: float) -> int | None:
    """Let the RQ workers catch up with the acknowledgements the last step owed, so each
    step starts from an idle worker pool. Returns the rows still open (None: no outbox)."""
    if app != "feedback":
        return None
    stack.wait_until(lambda: stack.open_outbox_rows() == 0, timeout)
    return stack.open_outbox_rows()


def measured(bench: stack.Stack, run: Callable[[], load.Step]) -> dict[str, Any]:
    """Run one load step; its summary, with the CPU each part of the stack used. Per
    request, web CPU is complete; RQ CPU covers only the acknowledgements sent meanwhile."""
    cpu_before, wall_before = bench.cpu(), time.monotonic()
    summary = run().summary()
    cpu_after = bench.cpu()
    summary["cores"] = stack.cpu_delta(cpu_before, cpu_after, time.monotonic() - wall_before)
    summary["cpu_ms_per_request"] = stack.cpu_ms_per_item(cpu_before, cpu_after, summary["ok"])
    return summary


def measure_app(
    bench: stack.Stack,
    app: str,
    rates: list[float],
    step_seconds: float,
    capacity_seconds: float,
    settle_seconds: float,
    threads: int,
) -> dict[str, Any]:
    assert bench.web is not None
    port, workers = bench.web.port, bench.web_workers
    with stack.stage(f"{app}: warm-up"):
        warm = load.warm_up(port, workers)
    settle(app, settle_seconds)
    steps = []
    for rate in rates:
        requests = load.webhook_requests(max(int(rate * step_seconds), 1))
        with stack.stage(f"{app}: {rate:g} req/s for {step_seconds:g}s"):
            run_step = functools.partial(load.open_loop, port, requests, rate, threads)
            summary = measured(bench, run_step)
        summary["outbox_open_after_settle"] = settle(app, settle_seconds)
        steps.append(summary)
        if saturated(summary):
            break
    concurrency = 4 * workers
    with stack.stage(f"{app}: capacity, closed loop, {concurrency} clients"):
        requests = load.webhook_requests(int(capacity_seconds * 3000))
        run_step = functools.partial(
            load.closed_loop, port, requests, concurrency, capacity_seconds
        )
        capacity = measured(bench, run_step)
    settle(app, settle_seconds)
    return {
        "app": app,
        "warm_up": warm,
        "steps": steps,
        "capacity": capacity,
        "peak_memory": bench.peak_memory(),
    }


def run(
    web_workers: int,
    rq_workers: int,
    twilio_delay: float,
    send_rate: float,
    rates: list[float],
    step_seconds: float,
    capacity_seconds: float,
    settle_seconds: float,
    apps: tuple[str, ...] = APPS,
    threads: int = 64,
) -> dict[str, Any]:
    """Measure each app in turn on one stack; also used by bench/scaling.py."""
    results: dict[str, Any] = {}
    with stack.Stack(web_workers, rq_workers, twilio_delay, send_rate) as bench:
        with stack.stage(f"starting the stack ({web_workers} web, {rq_workers} RQ workers)"):
            # Only "feedback" measures with the workers; started for any other app, they
            # would share the cores with it (as "feedback-web" first once did).
            first = "feedback" if "feedback" in apps else apps[0]
            bench.start(first, with_workers=first == "feedback")
        for index, app in enumerate(apps):
            if index > 0:
                with stack.stage(f"switching gunicorn to {app}"):
                    bench.switch_app(app, with_workers=False)
            results[app] = measure_app(
                bench, app, rates, step_seconds, capacity_seconds, settle_seconds, threads
            )
    capacities = {app: results[app]["capacity"]["throughput"] for app in results}
    ratio = ratio_to_bare(capacities, "feedback")
    web_ratio = ratio_to_bare(capacities, "feedback-web")
    durable_ratio = ratio_to_bare(capacities, "durable")
    return {
        "settings": {
            "web_workers": web_workers,
            "gunicorn_worker_class": "sync",
            "rq_workers": rq_workers,
            "twilio_delay_s": twilio_delay,
            "send_rate_per_second": send_rate,
            "rates": rates,
            "step_seconds": step_seconds,
            "capacity_seconds": capacity_seconds,
            "client_threads": threads,
        },
        "apps": results,
        "capacity_req_per_s": capacities,
        "ratio_feedback_to_bare": ratio,
        "ratio_web_tier_to_bare": web_ratio,
        "ratio_durable_to_bare": durable_ratio,
        "ratio_target": 0.5,
    }


def ratio_to_bare(capacities: dict[str, float], app: str) -> float | None:
    if capacities.get(app) and capacities.get("bare"):
        return round(capacities[app] / capacities["bare"], 3)
    return None


def print_report(data: dict[str, Any]) -> None:
    for app, result in data["apps"].items():
        rows = []
        for s in [*result["steps"], result["capacity"]]:
            lat = s["latency_s"]
            rows.append(
                [
                    label(s),
                    s["throughput"],
                    s["ok"],
                    s["errors"],
                    ms(lat["p50"]),
                    ms(lat["p95"]),
                    ms(lat["p99"]),
                    (s["cpu_ms_per_request"] or {}).get("web"),
                    *stack.core_columns(s["cores"]),
                ]
            )
        stack.print_table(
            [
                "offered/s",
                "achieved/s",
                "ok",
                "err",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "web cpu ms/req",
                *stack.CORE_HEADERS,
            ],
            rows,
            title=f"{app} (cpu: cores busy; other = everything else on the machine)",
        )
    caps = data["capacity_req_per_s"]
    print(
        "\ncapacity (closed loop): "
        + ", ".join(f"{app} {value:g} req/s" for app, value in caps.items())
    )
    target = data["ratio_target"]
    for name, ratio in (
        ("feedback-bot, workers on the same cores", data["ratio_feedback_to_bare"]),
        ("feedback-bot's web tier alone", data.get("ratio_web_tier_to_bare")),
        ("durable floor (signature + one committed INSERT)", data.get("ratio_durable_to_bare")),
    ):
        if ratio is not None:
            verdict = "meets" if ratio >= target else "MISSES"
            print(f"{name} / bare = {ratio:.2f} ({verdict} the >= {target} target)")


def label(step: dict[str, Any]) -> str:
    if step["offered_rate"]:
        return f"{step['offered_rate']:g}"
    return f"closed x{step['concurrency']}"


def ms(value: float | None) -> float | None:
    return round(value * 1000, 1) if value is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--rq-workers", type=int, default=4, help="python worker.py processes")
    parser.add_argument("--twilio-delay", type=float, default=0.1, help="fake Twilio latency, s")
    parser.add_argument("--send-rate", type=float, default=100, help="SEND_RATE_PER_SECOND")
    parser.add_argument("--rates", default="25,50,100,200,400", help="offered req/s, ascending")
    parser.add_argument("--step-seconds", type=float, default=10)
    parser.add_argument("--capacity-seconds", type=float, default=8)
    parser.add_argument("--settle-seconds", type=float, default=20)
    parser.add_argument("--apps", default=",".join(APPS))
    parser.add_argument("--quick", action="store_true", help="short steps (about a minute)")
    parser.add_argument("--output", default="ingest", help="bench/results/<output>.json")
    args = parser.parse_args()
    if args.quick:
        args.step_seconds, args.capacity_seconds, args.settle_seconds = 3, 4, 8
    data = run(
        args.web_workers,
        args.rq_workers,
        args.twilio_delay,
        args.send_rate,
        [float(r) for r in args.rates.split(",")],
        args.step_seconds,
        args.capacity_seconds,
        args.settle_seconds,
        apps=tuple(args.apps.split(",")),
    )
    print_report(data)
    print(f"\nwrote {stack.write_results(args.output, data)}")


if __name__ == "__main__":
    main()
