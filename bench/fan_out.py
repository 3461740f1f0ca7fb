"""Fan-out: a decision linked to 10,000 items is published; every member is told once, at
the shared send rate.

    .venv/bin/python bench/fan_out.py [--members 10000] [--rate 50] [--rq-workers 8]
                                      [--twilio-delay 0.1] [--pooled] [--quick]

Seeds members and linked items with bulk inserts through the app's models (as
tests/test_fan_out.py does), starts M ``python worker.py`` processes, publishes, and
measures: how long until every "what happened next" outbox row exists (the fan-out job),
how long until Twilio (the fake) has every one, the send rate in every one-second window
against SEND_RATE_PER_SECOND, duplicates, and the peak RSS of the web and worker processes.
While the fan-out runs, a trickle of inbound messages measures what a member who writes in
meanwhile waits for their acknowledgement. Writes bench/results/fan_out.json.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from datetime import datetime
from typing import Any

import load
import stack

SUMMARY = "We will resurface the whole of Mill Road in the spring."
RATING_MARKER = "Did we listen"


def seed(app: Any, members: int) -> int:
    """``members`` contacts, each with one item linked to a new decision; its id."""
    from feedback_bot.testing.seed import seed_linked_items

    return seed_linked_items(app, members, SUMMARY)


def publish(app: Any, decision_id: int) -> None:
    from feedback_bot import loop
    from feedback_bot.extensions import db
    from feedback_bot.models import Decision

    with app.app_context():
        loop.publish(db.session.get(Decision, decision_id))
        db.session.remove()


def what_next_counts() -> tuple[int, int]:
    """(rows owed, rows Twilio accepted) of kind what_next."""
    owed = stack.sql_scalar("SELECT count(*) FROM outbound_message WHERE kind = 'what_next'")
    accepted = stack.sql_scalar(
        "SELECT count(*) FROM outbound_message WHERE kind = 'what_next' "
        "AND status NOT IN ('pending', 'sending')"
    )
    return int(owed), int(accepted)


class Probe(threading.Thread):
    """Inbound messages at a trickle while the fan-out runs: their acknowledgements share
    the workers and the send rate with it."""

    def __init__(self, port: int, rate: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.requests = load.webhook_requests(max(int(rate * seconds), 1))
        self.port, self.rate = port, rate
        self.step: load.Step | None = None

    def run(self) -> None:
        self.step = load.open_loop(self.port, self.requests, self.rate, threads=8)


def run(
    members: int,
    rate: float,
    rq_workers: int,
    web_workers: int,
    twilio_delay: float,
    timeout: float,
    probe_rate: float,
    probe_seconds: float,
    pooled: bool = False,
) -> dict[str, Any]:
    with stack.Stack(web_workers, rq_workers, twilio_delay, rate, pooled=pooled) as bench:
        with stack.stage(f"starting the stack ({web_workers} web, {rq_workers} RQ workers)"):
            bench.start(with_workers=True)
        assert bench.web is not None and bench.fake is not None
        app = stack.app_in_process(bench.env)
        with stack.stage(f"seeding {members} members with linked items"):
            decision_id = seed(app, members)
        load.warm_up(bench.web.port, web_workers)
        stack.wait_until(lambda: stack.open_outbox_rows() == 0, 30)
        bench.fake.reset(twilio_delay)

        cpu_before, started = bench.cpu(), time.monotonic()
        publish(app, decision_id)
        probe = Probe(bench.web.port, probe_rate, probe_seconds) if probe_rate > 0 else None
        if probe:
            probe.start()
        queued_at = sent_at = None
        samples = []
        with stack.stage(f"fan-out to {members} members at {rate:g}/s"):
            while time.monotonic() - started < timeout:
                owed, accepted = what_next_counts()
                elapsed = time.monotonic() - started
                samples.append((round(elapsed, 2), owed, accepted))
                if queued_at is None and owed >= members:
                    queued_at = elapsed
                if accepted >= members:
                    sent_at = elapsed
                    break
                time.sleep(0.5)
        wall = time.monotonic() - started
        cpu_after = bench.cpu()
        cores = stack.cpu_delta(cpu_before, cpu_after, wall)
        accepted_rows = what_next_counts()[1]
        if probe:
            probe.join(timeout=probe_seconds + 60)
            stack.wait_until(lambda: open_acks() == 0, 60)
        memory = bench.peak_memory()
        messages = bench.fake.messages()
    return analyse(messages, members, rate, probe) | {
        "settings": {
            "members": members,
            "send_rate_per_second": rate,
            "rq_workers": rq_workers,
            "rq_pooled": pooled,
            "web_workers": web_workers,
            "twilio_delay_s": twilio_delay,
            "probe_rate_per_s": probe_rate,
            "max_seconds": timeout,
        },
        "all_what_next_rows_created_s": round(queued_at, 1) if queued_at else None,
        "all_what_next_sent_s": round(sent_at, 1) if sent_at else None,
        "timed_out": sent_at is None,
        "progress_samples": samples,
        "cores": cores,
        # Per "what happened next" sent, including the fan-out job and the rating questions
        # (and probe acknowledgements) sent meanwhile.
        "cpu_ms_per_what_next": stack.cpu_ms_per_item(cpu_before, cpu_after, accepted_rows),
        "peak_memory": memory,
    }


def open_acks() -> int:
    return int(
        stack.sql_scalar(
            "SELECT count(*) FROM outbound_message "
            "WHERE kind = 'ack' AND status IN ('pending', 'sending')"
        )
    )


def analyse(
    messages: list[dict[str, Any]], members: int, rate: float, probe: Probe | None
) -> dict[str, Any]:
    stamps = [datetime.fromisoformat(m["created_at"]).timestamp() for m in messages]
    what_next = [m for m in messages if SUMMARY in (m["body"] or "")]
    questions = [m for m in messages if RATING_MARKER in (m["body"] or "")]
    next_stamps = sorted(datetime.fromisoformat(m["created_at"]).timestamp() for m in what_next)
    per_member = Counter(m["to"] for m in what_next)
    # The achieved rate while the fan-out was sending: from its first to its last message.
    first, last = (next_stamps[0], next_stamps[-1]) if next_stamps else (0.0, 0.0)
    span = last - first
    all_sends_in_span = [s for s in stamps if first <= s <= last]
    achieved = (len(all_sends_in_span) - 1) / span if span > 0 else None
    buckets = load.per_second(all_sends_in_span)
    full = buckets[1:-1]  # whole seconds only
    busiest = load.busiest_second(stamps)
    # How near the limit the busiest stretch came: the shortest time in which rate + 1
    # consecutive messages reached the fake (a second or more: never above the rate).
    ordered, step = sorted(stamps), int(rate)
    spans = (ordered[i + step] - ordered[i] for i in range(len(ordered) - step))
    tightest = min(spans, default=None)
    result: dict[str, Any] = {
        "what_next_sent": len(what_next),
        "members_told": len(per_member),
        "duplicate_what_next": sum(count - 1 for count in per_member.values()),
        "rating_questions_sent": len(questions),
        "duplicate_rating_questions": len(questions) - len({m["to"] for m in questions}),
        "achieved_rate_per_s": round(achieved, 1) if achieved else None,
        "achieved_fraction_of_rate": round(achieved / rate, 3) if achieved else None,
        "busiest_one_second_window": busiest,
        "rate_exceeded": busiest > rate,
        "shortest_span_of_rate_plus_one_s": round(tightest, 4) if tightest is not None else None,
        "seconds_below_95_percent": sum(1 for count in full if count < 0.95 * rate),
        "whole_seconds": len(full),
        "sends_per_second": buckets,
    }
    if probe is not None and probe.step is not None:
        created = {}
        for message, stamp in zip(messages, stamps, strict=True):
            created.setdefault(message["to"], stamp)
        ok = [r for r in probe.step.results if r.status == 200]
        waits = [created[r.key] - r.sent_wall for r in ok if r.key in created]
        result["acks_during_fan_out"] = {
            "messages": len(probe.step.results),
            "acknowledged_before_stop": len(waits),
            "time_to_ack_s": load.percentiles(waits),
        }
    return result


def print_report(data: dict[str, Any]) -> None:
    s = data["settings"]
    stack.print_table(
        [
            "members",
            "rq wk",
            "rate/s",
            "rows owed s",
            "all sent s",
            "achieved/s",
            "of rate",
            "busiest 1s",
            "dupes",
            "told",
        ],
        [
            [
                s["members"],
                s["rq_workers"],
                s["send_rate_per_second"],
                data["all_what_next_rows_created_s"],
                data["all_what_next_sent_s"],
                data["achieved_rate_per_s"],
                data["achieved_fraction_of_rate"],
                data["busiest_one_second_window"],
                data["duplicate_what_next"] + data["duplicate_rating_questions"],
                data["members_told"],
            ]
        ],
        title="fan-out (what happened next)",
    )
    memory = data["peak_memory"]
    stack.print_table(
        ["process", "count", "peak RSS max MiB", "peak RSS sum MiB", "PSS sum MiB"],
        [
            ["gunicorn master", 1, memory["web_master_mib"], memory["web_master_mib"], ""],
            [
                "gunicorn workers",
                len(memory["web_workers_mib"]),
                max(memory["web_workers_mib"], default=None),
                round(sum(memory["web_workers_mib"]), 1),
                # Master and workers together: they share the master's pages.
                f"{memory.get('web_pss_mib')} (with the master)",
            ],
            [
                "RQ worker processes",
                len(memory["rq_workers_mib"]),
                max(memory["rq_workers_mib"], default=None),
                round(sum(memory["rq_workers_mib"]), 1),
                memory.get("rq_workers_pss_mib"),
            ],
        ],
        title="peak memory (VmHWM); PSS: memory in use, shared pages counted once",
    )
    stack.print_table(stack.CORE_HEADERS, [stack.core_columns(data["cores"])])
    probe = data.get("acks_during_fan_out")
    if probe:
        ack = probe["time_to_ack_s"]
        print(
            f"acks for {probe['messages']} messages sent during the fan-out: "
            f"{probe['acknowledged_before_stop']} before the end, "
            f"p50 {ack['p50']} s, p99 {ack['p99']} s"
        )
    if data["timed_out"]:
        print(
            f"stopped after {data['settings']['max_seconds']:g} s with "
            f"{data['what_next_sent']} of {s['members']} told (--max-seconds)"
        )
    rate = s["send_rate_per_second"]
    fraction = data["achieved_fraction_of_rate"] or 0
    print(
        f"rate: busiest second {data['busiest_one_second_window']} (limit {rate:g}: "
        f"{'EXCEEDED' if data['rate_exceeded'] else 'never exceeded'}); achieved "
        f"{fraction:.0%} of it ({'meets' if fraction >= 0.95 else 'MISSES'} the 95% target)"
    )
    span = data.get("shortest_span_of_rate_plus_one_s")
    if span is not None:
        print(f"the fastest {rate + 1:g} consecutive sends took {span:.3f} s at the fake")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=50, help="SEND_RATE_PER_SECOND")
    parser.add_argument("--rq-workers", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--pooled", action="store_true", help="RQ workers as one WORKER_PROCESSES pool"
    )
    parser.add_argument("--twilio-delay", type=float, default=0.1, help="fake Twilio latency, s")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=300,
        help="stop measuring after this long (10,000 at 50/s needs 200 s), report progress",
    )
    parser.add_argument("--probe-rate", type=float, default=1, help="inbound msgs/s meanwhile")
    parser.add_argument("--probe-seconds", type=float, default=30)
    parser.add_argument("--quick", action="store_true", help="2,000 members")
    parser.add_argument("--output", default="fan_out", help="bench/results/<output>.json")
    args = parser.parse_args()
    if args.quick:
        args.members = min(args.members, 2000)
        args.probe_seconds = min(args.probe_seconds, 15)
    data = run(
        args.members,
        args.rate,
        args.rq_workers,
        args.web_workers,
        args.twilio_delay,
        args.max_seconds,
        args.probe_rate,
        args.probe_seconds,
        args.pooled,
    )
    print_report(data)
    print(f"\nwrote {stack.write_results(args.output, data)}")


if __name__ == "__main__":
    main()
