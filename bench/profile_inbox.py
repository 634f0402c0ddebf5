"""Profile (pyinstrument) of the slowest inbox of bench/inbox.py, the attendance lead's, at 1,000 and at
100,000 tasks on SQLite: the same school and tasks as bench/inbox.py (its functions), fewer repeats.

    python bench/profile_inbox.py [--runs 3] [--staff lead-1]

Prints the profile of `--runs` requests at each size, then the mean time of a request at each size and their
ratio on the last line.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import inbox as bench  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from casework.config import load_config  # noqa: E402
from casework.context import App  # noqa: E402
from casework.web.settings import Web, WebSettings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--staff", default="lead-1")
    ap.add_argument("--seed", type=int, default=8)
    args = ap.parse_args()
    config = load_config(bench.ROOT / "config.yaml")
    means = {}
    with tempfile.TemporaryDirectory(prefix="casework-bench-") as tmp:
        app = App(db_url=f"sqlite:///{tmp}/inbox.db", _config=config)
        app.init()
        rng = random.Random(args.seed)
        school = bench.build_school(app)
        for size in bench.SIZES:
            school = bench.add_tasks(app, school, size, rng)
            fn = bench.one_inbox(Web(app, lambda: bench.NOW, WebSettings()), bench.viewer_for(app, args.staff))
            rows = fn()
            profiler = Profiler(interval=0.001)
            t = time.perf_counter()
            with profiler:
                for _ in range(args.runs):
                    fn()
            means[size] = (time.perf_counter() - t) / args.runs
            print(f"--- {size:,} tasks, {args.staff}, {args.runs} requests, {rows} rows shown, "
                  f"{1000 * means[size]:.0f} ms a request (profiled)")
            print(profiler.output_text(unicode=False, color=False, show_all=False)[:7000], flush=True)
    small, large = (means[s] for s in bench.SIZES)
    print(f"inbox {args.staff} (profiled): {1000 * small:.1f} ms at {bench.SIZES[0]:,} tasks, "
          f"{1000 * large:.1f} ms at {bench.SIZES[1]:,}, ratio {large / small:.1f}")


if __name__ == "__main__":
    main()
