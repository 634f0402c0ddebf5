"""Benchmark: a school year through every workflow (casework simulate: marks imported, the engine each school
day, staff acting on tasks) against a bare bulk insert of the same marks into the same kind of database.
Target: 3x or less (issue 8). Prints wall time, peak memory and the ratio on the last line.

    python bench/year_replay.py [--pupils 1500] [--until YYYY-MM-DD] [--seed 2]

SQLite only. The bare insert goes into a plain four-column table (upn, date, session, code; one unique index)
in a separate SQLite file, not into the schema's marks table.
"""
from __future__ import annotations

import argparse
import datetime as dt
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

from casework.calendar import SchoolCalendar
from casework.config import load_config
from casework.context import App
from casework.simulate import simulate
from casework.synthetic import generate_school

ROOT = Path(__file__).resolve().parent.parent


def bare_insert(db: Path, marks: list[dict[str, str]]) -> float:
    """The same marks into a plain table with one executemany: the floor any import and replay stands on."""
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE marks (pupil TEXT, date TEXT, session TEXT, code TEXT, UNIQUE(pupil, date, session))")
    rows = [(m["upn"], m["date"], m["session"], m["code"]) for m in marks]
    t = time.perf_counter()
    con.executemany("INSERT INTO marks VALUES (?, ?, ?, ?)", rows)
    con.commit()
    elapsed = time.perf_counter() - t
    con.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pupils", type=int, default=1500)
    ap.add_argument("--until", help="last day (default: the end of the year)")
    ap.add_argument("--seed", type=int, default=2)
    args = ap.parse_args()
    config = load_config(ROOT / "config.yaml")
    cal = SchoolCalendar(config)
    until = dt.date.fromisoformat(args.until) if args.until else cal.last_day
    with tempfile.TemporaryDirectory() as tmp:
        marks = generate_school(args.pupils, args.seed, config, cal, end=until).marks
        bare = bare_insert(Path(tmp) / "bare.db", marks)
        app = App(db_url=f"sqlite:///{tmp}/year.db", _config=config)
        t = time.perf_counter()
        reports = simulate(app, args.pupils, args.seed, until)
        replay = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    days = sum(1 for d in cal.days if d <= until)
    print(f"{len(reports)} half term(s), {days} school days, {len(marks)} marks")
    print(f"year replay, {args.pupils} pupils to {until}: {replay:.0f}s ({replay / days:.2f}s a school day), "
          f"peak RSS {peak_mb:.0f} MB; bare insert of the marks {bare:.2f}s; ratio {replay / bare:.0f}x (target <= 3)")


if __name__ == "__main__":
    main()
