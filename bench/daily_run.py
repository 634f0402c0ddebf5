"""Benchmark: does history slow the daily run? A synthetic school (default 1,500 pupils, a full year of
marks) is imported, then replayed through every workflow. The cost of one whole school day (registers,
nightly evaluation, timers, reminders) is timed early in the year (week 2) and late (week 35 by default),
and the ratio printed. Target: 1.3 or less (DESIGN.md "Performance").

    python bench/daily_run.py [--pupils 1500] [--late-week 35] [--db URL] [--profile]

Nobody completes a task in this run, so open tasks and cases pile up: a harder case than a real school.
The last line has the figures and the ratio.
"""
from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from benchlib import week_day

from casework import engine
from casework.config import load_config
from casework.context import App
from casework.imports import KINDS, run_import
from casework.synthetic import generate_school, write_csvs

ROOT = Path(__file__).resolve().parent.parent


def day_end(app: App, day: dt.date) -> dt.datetime:
    return app.calendar.at(day, dt.time(23, 59))


def entries(app: App) -> int:
    from sqlalchemy import func, select

    from casework.models import ChronologyEntry

    with app.sessions() as s:
        return s.scalar(select(func.count()).select_from(ChronologyEntry)) or 0


def timed_day(app: App, day: dt.date, profile: bool) -> tuple[float, int, int]:
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    before = entries(app)
    t = time.perf_counter()
    report = engine.run(app, day_end(app, day))
    elapsed = time.perf_counter() - t
    work = entries(app) - before
    if profiler:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])
    return elapsed, report.total, work




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pupils", type=int, default=1500)
    ap.add_argument("--early-week", type=int, default=2)
    ap.add_argument("--late-week", type=int, default=35)
    ap.add_argument("--db", help="a database URL (default: a fresh SQLite file)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--profile", action="store_true", help="pyinstrument profile of the two timed days")
    args = ap.parse_args()
    config = load_config(ROOT / "config.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        app = App(db_url=args.db or f"sqlite:///{tmp}/bench.db", _config=config)
        app.init()
        t = time.perf_counter()
        school = generate_school(args.pupils, args.seed, config, app.calendar, end=app.calendar.last_day)
        write_csvs(school, tmp)
        now = dt.datetime.now(dt.UTC)
        for kind in KINDS:
            run_import(app.sessions, kind, Path(tmp) / f"{kind}.csv", config, app.calendar, now)
        print(f"school: {args.pupils} pupils, {len(school.marks)} marks, set up in {time.perf_counter() - t:.0f}s")
        early, late = week_day(app.calendar, args.early_week), week_day(app.calendar, args.late_week)
        engine.run(app, day_end(app, app.calendar.previous_school_day(early)))
        early_s, early_items, early_work = timed_day(app, early, args.profile)
        print(f"early day {early}: {early_s:.2f}s, {early_items} agenda items, {early_work} chronology entries")
        t = time.perf_counter()
        engine.run(app, day_end(app, app.calendar.previous_school_day(late)))
        print(f"replayed to {late} in {time.perf_counter() - t:.0f}s")
        late_s, late_items, late_work = timed_day(app, late, args.profile)
        print(f"late day {late}: {late_s:.2f}s, {late_items} agenda items, {late_work} chronology entries")
        per_early, per_late = early_s / max(early_work, 1), late_s / max(late_work, 1)
        print(f"daily run, {args.pupils} pupils: week {args.early_week} {early_s:.2f}s, week {args.late_week} "
              f"{late_s:.2f}s, ratio late/early {late_s / early_s:.2f} (target <= 1.3); per chronology entry "
              f"{1000 * per_early:.1f}ms vs {1000 * per_late:.1f}ms, ratio {per_late / per_early:.2f}")


if __name__ == "__main__":
    main()
