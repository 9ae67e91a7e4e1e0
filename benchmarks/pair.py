"""``make pair REV=<revision>``: the mock of the working tree against the mock of another git revision,
both loaded at the same time and pinned to the same core.

A shared VM's speed drifts by a fifth from one run to the next, so two runs made one after the other
cannot tell a change of 5 % from noise. Loaded at once on one core, the two servers share whatever speed
the machine has at that moment, and the ratio of their throughputs is the ratio of their costs. Each
round loads both with valid creates for ``PAIR_SECONDS`` (default 4) after a warm-up round; the report
gives the median of ``PAIR_ROUNDS`` (default 6) ratios and their range. Only a difference larger than
that range means something.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

from benchmarks import load
from benchmarks.bench import CREATE_PATH, VALID, say
from benchmarks.load import Load, Scenario
from benchmarks.servers import LOAD_CPU, REPO, pinned, serve_mock

CREATE = Scenario("create (valid)", "POST", CREATE_PATH, 202, VALID)


def main() -> int:
    revision = os.environ.get("REV") or (sys.argv[1] if len(sys.argv) > 1 else "")
    if not revision:
        sys.stderr.write("make pair needs REV=<git revision> to compare the working tree with\n")
        return 2
    rounds = int(os.environ.get("PAIR_ROUNDS", "6"))
    seconds = float(os.environ.get("PAIR_SECONDS", "4"))
    with tempfile.TemporaryDirectory(prefix="spark-pair-") as scratch, ExitStack() as stack:
        other = Path(scratch) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(other), revision], check=True)
        stack.callback(subprocess.run, ["git", "-C", str(REPO), "worktree", "remove", "--force", str(other)])
        urls = {}
        for name, tree in ((revision, other), ("working tree", REPO)):
            # Run in the tree, with it first on the path: `python -m mockserver` imports that tree's package.
            urls[name] = stack.enter_context(serve_mock(tree=tree)).url
        ratios: list[float] = []
        for number in range(rounds + 1):
            loads = _at_once(urls, seconds)
            if number == 0:
                continue  # warm-up
            ratios.append(loads["working tree"].per_second / loads[revision].per_second)
            say(
                f"round {number}: {revision} {loads[revision].per_second:,.0f} req/s,"
                f" working tree {loads['working tree'].per_second:,.0f} req/s, ratio {ratios[-1]:.3f}"
            )
    say(
        f"working tree / {revision}: median {statistics.median(ratios):.3f}"
        f" (range {min(ratios):.3f} to {max(ratios):.3f}, {rounds} rounds of {seconds:g} s)"
    )
    return 0


def _at_once(urls: dict[str, str], seconds: float) -> dict[str, Load]:
    loads: dict[str, Load] = {}

    def run(name: str) -> None:
        loads[name] = load.run(urls[name], CREATE, seconds=seconds, cpu=LOAD_CPU if pinned() else None)

    threads = [threading.Thread(target=run, args=(name,)) for name in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return loads


if __name__ == "__main__":
    sys.exit(main())
