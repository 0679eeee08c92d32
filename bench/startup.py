"""Cold start to ready on the embedded default: `python app.py` on a fresh DATA_DIR, then a restart.

    .venv/bin/python -m bench.startup [--runs 3]

Prints the time from spawning the process to GET /readyz answering 200, for a first start (initdb +
migrations) and for a restart on the same DATA_DIR, as medians over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from tests.integration.test_embedded import free_port, start, stop


async def one_run() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, port = Path(tmp) / "data", free_port()
        proc, first = await start(data_dir, port)
        await stop(proc)
        proc, again = await start(data_dir, port)
        await stop(proc)
    return first, again


async def main(runs: int) -> None:
    results = [await one_run() for _ in range(runs)]
    for label, times in (
        ("first start to ready", [r[0] for r in results]),
        ("restart to ready", [r[1] for r in results]),
    ):
        runs_text = ", ".join(f"{x:.2f}" for x in times)
        print(f"{label:<21} median {statistics.median(times):.2f}s  (runs: {runs_text})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))
