"""Benchmark: the nightly evaluation (STG) for a whole school against one SQL aggregate of the same figures.

A synthetic school's marks up to a late week are imported; the evaluation runs once that evening (opening
the cases), then the next evening's evaluation (every pupil's YTD band, only the worsened acting) is
timed against a single GROUP BY of the same marks. Target: 2x or less.

    python bench/nightly.py [--pupils 1500] [--week 30] [--db URL] [--repeat 5]

--db is a PostgreSQL server URL: a throw-away database is created on it and dropped afterwards (the
database named in the URL is only used to connect), so a shared database is never written to.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from benchlib import fresh_database
from sqlalchemy import func, select

from casework.config import load_config
from casework.context import App
from casework.engine import Env
from casework.imports import KINDS, run_import
from casework.models import Mark
from casework.synthetic import generate_school, write_csvs
from workflows.registry import get

ROOT = Path(__file__).resolve().parent.parent


def evaluate(app: App, day: dt.date) -> float:
    """The STG listener for one evening, in a transaction that is rolled back (so it can be repeated)."""
    with app.sessions() as s:
        s.begin()
        t = time.perf_counter()
        get("escalation").on_day_end(Env(s, app, now=app.calendar.at(day, dt.time(18))), day)  # type: ignore[attr-defined]
        s.flush()
        elapsed = time.perf_counter() - t
        s.rollback()
    return elapsed


def aggregate(app: App, day: dt.date) -> float:
    """One SQL aggregate: possible/attended/authorised/unauthorised/lates per pupil, year to date."""
    cfg = app.config
    cats = {k: [c for c, v in cfg.policy.codes.table.items() if v.category == k]
            for k in ("present", "approved_activity", "authorised", "unauthorised", "not_counted")}
    late = [c for c, v in cfg.policy.codes.table.items() if v.late]

    def count(codes: list[str]):  # noqa: ANN202
        return func.sum(Mark.code.in_(codes).cast(type_=Mark.id.type))

    q = (select(Mark.pupil_id, count(cats["present"]), count(cats["approved_activity"]), count(cats["authorised"]),
                count(cats["unauthorised"]), count(cats["not_counted"]), count(late))
         .where(Mark.date >= app.calendar.first_day, Mark.date <= day).group_by(Mark.pupil_id))
    with app.sessions() as s:
        t = time.perf_counter()
        rows = s.execute(q).all()
        elapsed = time.perf_counter() - t
    assert rows
    return elapsed




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pupils", type=int, default=1500)
    ap.add_argument("--week", type=int, default=30, help="school week of the evaluated evening")
    ap.add_argument("--db")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    config = load_config(ROOT / "config.yaml")
    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.db, Path(tmp)) as url:
        app = App(db_url=url, _config=config)
        app.init()
        weeks = sorted({d.isocalendar()[:2] for d in app.calendar.days})
        day = max(d for d in app.calendar.days if d.isocalendar()[:2] == weeks[args.week - 1])
        school = generate_school(args.pupils, args.seed, config, app.calendar, end=day)
        write_csvs(school, tmp)
        for kind in KINDS:
            run_import(app.sessions, kind, Path(tmp) / f"{kind}.csv", config, app.calendar, dt.datetime.now(dt.UTC))
        prev = app.calendar.previous_school_day(day)
        with app.sessions.begin() as s:  # the previous evening: cases for everyone already in a stage
            get("escalation").on_day_end(Env(s, app, now=app.calendar.at(prev, dt.time(18))), prev)  # type: ignore[attr-defined]
        nightly = statistics.median(evaluate(app, day) for _ in range(args.repeat))
        agg = statistics.median(aggregate(app, day) for _ in range(args.repeat))
        print(f"nightly evaluation, {args.pupils} pupils, {len(school.marks)} marks to {day}: evaluation "
              f"{1000 * nightly:.0f}ms, one SQL aggregate {1000 * agg:.0f}ms, ratio {nightly / agg:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
