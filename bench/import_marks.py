"""Benchmark: a full year of marks for a school (1,500 pupils x 380 sessions = 570,000 rows) through
`casework import`, against a bare DBAPI executemany of the same rows into the same kind of fresh database.

    python bench/import_marks.py [--pupils 1500] [--db postgresql+psycopg://...] [--tracemalloc]

Prints rows/s, peak memory (the process's peak RSS, and with --tracemalloc the peak of Python
allocations during the marks import, measured in a second, untimed run) and the ratio of the import's time
to the bare insert's. The last line has the figures and the ratio. Ratios, not absolute times, are what
hold on a noisy machine (DESIGN.md "Performance").
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import fresh_database
from sqlalchemy import func, select

from casework.calendar import SchoolCalendar
from casework.config import Config, load_config
from casework.context import App
from casework.imports import BATCH_ROWS, run_import
from casework.models import Mark, Pupil
from casework.upn import make_upn

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2027, 7, 22, 18, 0, tzinfo=dt.UTC)  # after the year's last register
# a plausible register: mostly present, some lates, illness, unexplained absence
CODES = ["/"] * 90 + ["L"] * 3 + ["I"] * 3 + ["N", "O", "M", "G"]


def rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_pupils(path: Path, n: int) -> list[str]:
    upns = [make_upn(357, 4001 + i // 5000, 14 + i % 5, i // 5 % 1000) for i in range(n)]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["upn", "given_name", "family_name", "date_of_birth", "year_group", "form"])
        for i, upn in enumerate(upns):
            year = 7 + i % 5
            w.writerow([upn, f"Pupil{i}", "Bench", f"{2019 - year}-0{1 + i % 9}-1{i % 9}", year,
                        f"{year}{'ABCDEF'[i // 5 % 6]}"])
    return upns


def write_marks(path: Path, upns: list[str], calendar: SchoolCalendar) -> int:
    """In register order (a day at a time, every pupil), as an MIS export would be."""
    rng, rows = random.Random(7), 0
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["upn", "date", "session", "code", "minutes_late", "reason", "recorded_by"])
        for day in calendar.days:
            for upn in upns:
                for session in ("AM", "PM"):
                    code = rng.choice(CODES)
                    present = "/" if session == "AM" else "\\"
                    w.writerow([upn, day.isoformat(), session, present if code == "/" else code,
                                rng.randint(1, 40) if code == "L" else "", "", "T001"])
                    rows += 1
    return rows


@dataclass(frozen=True)
class Files:
    pupils: Path
    marks: Path


@dataclass(frozen=True)
class Database:
    url: str


@contextmanager
def new_database(kind: str, tmp: Path, pg: str | None) -> Iterator[Database]:
    """A new empty database of the kind asked for, dropped afterwards."""
    with fresh_database(pg if kind == "postgresql" else None, tmp) as url:
        yield Database(url)


def new_app(url: str, config: Config) -> App:
    app = App(db_url=url, _config=config)
    app.init()
    return app


def mark_tuples(app: App, marks_csv: Path, sqlite: bool) -> Iterator[list[tuple[Any, ...]]]:
    """The rows the import stored, as DBAPI parameters in batches (prepared before the clock starts)."""
    with app.sessions() as s:
        ids = {upn: pid for upn, pid in s.execute(select(Pupil.upn, Pupil.id))}
    stamp: Any = NOW.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else NOW
    batch: list[tuple[Any, ...]] = []
    with marks_csv.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            day: Any = r["date"] if sqlite else dt.date.fromisoformat(r["date"])
            late = int(r["minutes_late"]) if r["minutes_late"] else None
            batch.append((ids[r["upn"]], day, r["session"], r["code"], late, None, r["recorded_by"], stamp))
            if len(batch) == BATCH_ROWS:
                yield batch
                batch = []
    if batch:
        yield batch


def bare_insert(app: App, batches: list[list[tuple[Any, ...]]], sqlite: bool) -> float:
    p = "?" if sqlite else "%s"
    sql = (f"INSERT INTO marks (pupil_id, date, session, code, minutes_late, reason, recorded_by, "
           f"recorded_at) VALUES ({', '.join([p] * 8)})")
    raw = app.engine.raw_connection()
    try:
        start = time.perf_counter()
        cur = raw.cursor()
        if sqlite:  # SQLAlchemy leaves pysqlite in autocommit and emits BEGIN itself: one transaction here
            cur.execute("BEGIN")
        for batch in batches:
            cur.executemany(sql, batch)
        raw.commit()
        return time.perf_counter() - start
    finally:
        raw.close()


@dataclass
class Figures:
    rows_s: float = 0.0
    seconds: float = 0.0
    rss: float = 0.0
    traced: float = 0.0
    bare_seconds: float = 0.0


def with_pupils(db: Database, config: Config, files: Files) -> App:
    app = new_app(db.url, config)
    run_import(app.sessions, "pupils", files.pupils, config, SchoolCalendar(config), NOW)
    return app


def measure_import(kind: str, db: Database, config: Config, files: Files, rows: int) -> Figures:
    """Our import, timed: the marks into a fresh database holding the pupils, then the same file again."""
    calendar = SchoolCalendar(config)
    app = with_pupils(db, config, files)
    rss_before = rss_mb()
    start = time.perf_counter()
    result = run_import(app.sessions, "marks", files.marks, config, calendar, NOW)
    seconds = time.perf_counter() - start
    rss = rss_mb()
    with app.sessions() as s:
        stored = s.scalar(select(func.count()).select_from(Mark))
    assert result.added == rows == stored, (result, rows, stored)
    start = time.perf_counter()
    again = run_import(app.sessions, "marks", files.marks, config, calendar, NOW)
    t_again = time.perf_counter() - start
    assert again.unchanged == rows, again
    app.engine.dispose()
    print(f"{kind}: marks {result} in {seconds:.1f} s ({rows / seconds:,.0f} rows/s); the same file again "
          f"({again.unchanged:,} unchanged) in {t_again:.1f} s; peak RSS {rss:.0f} MB "
          f"({rss_before:.0f} MB before the marks import)")
    return Figures(rows_s=rows / seconds, seconds=seconds, rss=rss)


def measure_traced(kind: str, db: Database, config: Config, files: Files) -> float:
    """Peak Python allocations of the marks import, in an untimed run (tracemalloc slows allocation)."""
    app = with_pupils(db, config, files)
    tracemalloc.start()
    run_import(app.sessions, "marks", files.marks, config, SchoolCalendar(config), NOW)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    app.engine.dispose()
    print(f"{kind}: tracemalloc peak during the marks import {peak:.1f} MB")
    return peak


def measure_bare(kind: str, db: Database, config: Config, files: Files, rows: int) -> float:
    app = with_pupils(db, config, files)
    batches = list(mark_tuples(app, files.marks, kind == "sqlite"))  # before the clock starts
    seconds = bare_insert(app, batches, kind == "sqlite")
    app.engine.dispose()
    print(f"{kind}: bare executemany of the same {rows:,} rows in {seconds:.1f} s "
          f"({rows / seconds:,.0f} rows/s)")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pupils", type=int, default=1500)
    ap.add_argument("--db", help="also run on this PostgreSQL server (a throw-away database is created)")
    ap.add_argument("--config", default=str(ROOT / "config.yaml"))
    ap.add_argument("--tracemalloc", action="store_true", help="also measure Python allocations (slow)")
    args = ap.parse_args()
    config = load_config(args.config)
    calendar = SchoolCalendar(config)
    kinds = ["sqlite"] + (["postgresql"] if args.db else [])
    figures = {kind: Figures() for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="casework-bench-") as tmpdir:
        tmp = Path(tmpdir)
        files = Files(tmp / "pupils.csv", tmp / "marks.csv")
        start = time.perf_counter()
        upns = write_pupils(files.pupils, args.pupils)
        rows = write_marks(files.marks, upns, calendar)
        print(f"generated {len(upns):,} pupils and {rows:,} marks rows "
              f"({files.marks.stat().st_size / 2**20:.1f} MB, {len(calendar.days)} school days) "
              f"in {time.perf_counter() - start:.1f} s")
        # our imports first, so that the peak RSS they report is theirs (the bare insert holds every row)
        for kind in kinds:
            with new_database(kind, tmp, args.db) as db:
                figures[kind] = measure_import(kind, db, config, files, rows)
        for kind in kinds if args.tracemalloc else []:
            with new_database(kind, tmp, args.db) as db:
                figures[kind].traced = measure_traced(kind, db, config, files)
        for kind in kinds:
            with new_database(kind, tmp, args.db) as db:
                figures[kind].bare_seconds = measure_bare(kind, db, config, files, rows)
    parts = []
    for kind, f in figures.items():
        traced = f", tracemalloc peak {f.traced:.1f} MB" if f.traced else ""
        parts.append(f"{kind}: {f.rows_s:,.0f} rows/s, peak RSS {f.rss:.0f} MB{traced}, "
                     f"import/bare executemany = {f.seconds / f.bare_seconds:.1f}x")
    print(f"{rows:,} marks rows | " + " | ".join(parts))


if __name__ == "__main__":
    main()
