"""Run every benchmark module `bench/bench_*.py` (each exposes `main()`), or the ones named.

Usage: python -m bench [name ...]   e.g. `python -m bench orderbook download`
"""

from __future__ import annotations

import importlib
import platform
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv]
    selected = [n for n in names if not wanted or n in wanted]
    print(
        f"# bst benchmarks on {platform.node()} ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    for name in selected:
        print(f"\n## {name}")
        module = importlib.import_module(f"bench.{name}")
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
