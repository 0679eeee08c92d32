"""``python -m bench run [--quick]``: the benchmark (bench/run.py). Other measurements are modules of
their own: ``python -m bench.startup``, ``python bench/webhooks.py`` ..."""

from __future__ import annotations

import sys

from bench import run

if __name__ == "__main__":
    if sys.argv[1:2] != ["run"]:
        print("usage: python -m bench run [--quick] [--out report.json]", file=sys.stderr)
        sys.exit(2)
    sys.exit(run.main(sys.argv[2:]))
