"""A webhook receiver for ``make bench``: ``python -m benchmarks.receiver``, pinned beside wrk.

Prints its URL on the first line, checks every delivery's signature, answers each ``200``, and on
standard input's end (the benchmark is done with it) prints how many came and how many were signed
right (of the last 10,000, which it keeps), and why the others were not, as JSON, and stops.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from mockserver import WebhookReceiver
from mockserver.webhook_process import NICENESS, lower_priority

SECRET = "whsec_" + "be7c" * 12


def main() -> None:
    # Beside wrk, behind it: deliveries that catch up while another server is loaded must not slow the load.
    lower_priority(NICENESS)
    with WebhookReceiver(SECRET) as receiver:
        sys.stdout.write(receiver.url + "\n")
        sys.stdout.flush()
        sys.stdin.read()
        deliveries = receiver.deliveries()
        counts: dict[str, object] = {"received": len(deliveries), "verified": sum(d.verified for d in deliveries)}
        counts["problems"] = dict(Counter(d.problem for d in deliveries if d.problem is not None))
        sys.stdout.write(json.dumps(counts) + "\n")


if __name__ == "__main__":
    main()
