"""Replay time per case: every committed history in tests/histories/ replayed
with today's workflow code, a few rounds on one warm Replayer (the way
`jieya replay --all` runs), plus the first, cold replay.

    .venv/bin/python bench/replay.py [--rounds 5]"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kernel.case_history import from_file  # noqa: E402
from workers.commands.replay import build_replayer, replay_history  # noqa: E402

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories"


async def main(rounds: int) -> None:
    paths = sorted(HISTORIES.glob("*.json"))
    loaded = [from_file(path) for path in paths]
    replayer = build_replayer()
    started = time.perf_counter()
    cold = await replay_history(loaded[0].history, replayer)
    print(f"first (cold) replay: {(time.perf_counter() - started) * 1000:.0f} ms")
    assert cold.ok, cold.describe()
    per_case: dict[str, list[float]] = {}
    for _ in range(rounds):
        for item in loaded:
            outcome = await replay_history(item.history, replayer)
            assert outcome.ok, outcome.describe()
            per_case.setdefault(item.case_id, []).append(outcome.seconds)
    all_times = [s for times in per_case.values() for s in times]
    for path, item in zip(paths, loaded, strict=True):
        median = statistics.median(per_case[item.case_id]) * 1000
        print(f"{path.stem:<24} {len(item.history.events):>4} events  median {median:6.1f} ms")
    print(
        f"replay time per case: median {statistics.median(all_times) * 1000:.1f} ms, "
        f"mean {statistics.mean(all_times) * 1000:.1f} ms, max {max(all_times) * 1000:.1f} ms "
        f"({len(loaded)} histories x {rounds} rounds)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args().rounds))
