"""Benchmark: local-authority scale on PostgreSQL (issue 8). 150,000 pupils (100 schools of 1,500) against
15,000 (10 schools): one school day's marks (AM and PM) imported through `casework import marks`, then that
day's evaluations through the engine (`engine.run` to the end of the day: both register closes, the nightly
evaluation of every workflow, timers, task reminders and expiries). Prints the cost per pupil at each size
and their ratio on the last line. Target: linear or better (ratio <= ~1.0-1.2).

    python bench/la_scale.py [--schools 10,100] [--week 6] [--db postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                             [--distinct 10] [--profile]

How the local authority is built (simplifications, stated):
- The engine is single-school (one calendar, one agenda, calendar timers keyed by date only), so all the
  schools of a size live in ONE database and ONE engine run serves all of them, as if the authority were a
  single very large school. Each school's pupils get their own UPNs (LA code 100 + school number) and forms
  (prefixed with the school number, e.g. "007-7H"), and its staff their own ids and forms, so form-tutor
  tasks go to the right school's tutor. Year-group scopes (pastoral managers, heads of key stage) cannot be
  told apart by school in this data model: such a task goes to the first matching member of staff.
- `--distinct` synthetic schools (casework.synthetic, seeds seed..seed+distinct-1, realistic absence
  patterns) are generated and reused cyclically: at 100 schools each pattern appears ten times, under other
  UPNs, forms and staff. Work per pupil is therefore the same mix at both sizes.
- Pupils, contacts and staff go in through the CSV imports (untimed). The marks of the year so far (every
  school day before the timed day) are bulk-loaded with COPY (untimed), not through the import or a replay.
  Calendar items before the day before are marked fired without being processed (no back-history of
  cases); the day before is run through the engine (untimed warm-up: it opens the cases of everybody
  already in a stage, first-day cases and their tasks), so the timed day starts from a steady state.
- Timed: the import of the day's marks file (AM and PM for every pupil) and `engine.run` to 23:59 that day.
  Nobody completes tasks.
- The timed day defaults to the Wednesday of school week 2 (2026-09-09), before STG can escalate anybody
  (min_possible_sessions: 20). From about week 3 on, the warm-up day is the first evaluation that may
  escalate, and it opens every stage case of the year at once (1,251 cases, 1,931 letters for 1,500
  pupils at --week 6, 134 s on the shared 2-core machine of 2026-12-03): 100 times that did not fit the
  time. So the timed day carries the first-day response, second-day checks, reminders and expiries and
  every nightly listener, but no stage escalations. `--week 6` runs the later day (small sizes only).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import resource
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import throw_away_database, week_day
from sqlalchemy import func, select, text, update

from casework import engine
from casework.calendar import SchoolCalendar
from casework.config import Config, load_config
from casework.context import App
from casework.imports import run_import
from casework.models import Case, ChronologyEntry, Letter, Pupil, Task, Timer
from casework.synthetic import FILES, generate_school
from casework.upn import make_upn

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PER_SCHOOL = 1500
TARGET = 1.2
Row = dict[str, str]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the synthetic schools ---------------------------------------------------------------------------------
@dataclass
class BaseSchool:
    pupils: list[Row]
    contacts: list[Row]
    staff: list[Row]
    history: list[tuple[int, str, str, str, str, str, str]]  # pupil index, date, session, code, late, reason, by
    today: list[tuple[int, str, str, str, str, str, str]]


def base_school(seed: int, config: Config, cal: SchoolCalendar, day: dt.date) -> BaseSchool:
    school = generate_school(PER_SCHOOL, seed, config, cal, end=day)
    index = {p["upn"]: i for i, p in enumerate(school.pupils)}
    history: list[tuple[int, str, str, str, str, str, str]] = []
    today: list[tuple[int, str, str, str, str, str, str]] = []
    iso = day.isoformat()
    for m in school.marks:
        t = (index[m["upn"]], m["date"], m["session"], m["code"], m["minutes_late"], m["reason"], m["recorded_by"])
        (today if m["date"] == iso else history).append(t)
    return BaseSchool(school.pupils, school.contacts, school.staff, history, today)


@dataclass(frozen=True)
class Copy:
    """School number n built from a base school: its UPNs, forms and staff ids."""
    n: int
    base: BaseSchool

    def upn(self, i: int) -> str:
        return make_upn(100 + self.n, 4001, 20 + i // 1000, i % 1000)

    def form(self, form: str) -> str:
        return f"{self.n:03d}-{form}" if form else form

    def staff_id(self, sid: str) -> str:
        return f"{self.n:03d}{sid}" if sid else sid

    def pupils(self) -> Iterator[Row]:
        for i, p in enumerate(self.base.pupils):
            yield {**p, "upn": self.upn(i), "form": self.form(p["form"])}

    def contacts(self, index: dict[str, int]) -> Iterator[Row]:
        for c in self.base.contacts:
            yield {**c, "upn": self.upn(index[c["upn"]])}

    def staff(self) -> Iterator[Row]:
        for s in self.base.staff:
            yield {**s, "staff_id": self.staff_id(s["staff_id"]), "email": f"s{self.n:03d}.{s['email']}",
                   "forms": ";".join(self.form(f) for f in s["forms"].split(";") if f)}


def write_roll(copies: list[Copy], folder: Path) -> None:
    writers: dict[str, Any] = {}
    files = []
    for kind in ("pupils", "contacts", "staff"):
        fh = (folder / f"{kind}.csv").open("w", encoding="utf-8", newline="")
        files.append(fh)
        writers[kind] = csv.DictWriter(fh, fieldnames=FILES[kind], lineterminator="\n")
        writers[kind].writeheader()
    for c in copies:
        index = {p["upn"]: i for i, p in enumerate(c.base.pupils)}
        writers["pupils"].writerows(c.pupils())
        writers["contacts"].writerows(c.contacts(index))
        writers["staff"].writerows(c.staff())
    for fh in files:
        fh.close()


def write_day(copies: list[Copy], path: Path) -> int:
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(FILES["marks"])
        for c in copies:
            for i, date, session, code, late, reason, by in c.base.today:
                w.writerow([c.upn(i), date, session, code, late, reason, c.staff_id(by), ""])
                rows += 1
    return rows


def copy_history(app: App, copies: list[Copy], cal: SchoolCalendar) -> int:
    """The year so far, straight into marks with COPY (what the imports would have stored)."""
    with app.sessions() as s:
        ids = {upn: pid for upn, pid in s.execute(select(Pupil.upn, Pupil.id))}
    stamps: dict[str, dt.datetime] = {}
    raw = app.engine.raw_connection()
    rows = 0
    try:
        cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
        sql = ("COPY marks (pupil_id, date, session, code, minutes_late, reason, recorded_by, recorded_at) "
               "FROM STDIN")
        with cur.copy(sql) as cp:
            for c in copies:
                pids = [ids[c.upn(i)] for i in range(len(c.base.pupils))]
                for i, date, session, code, late, reason, by in c.base.history:
                    stamp = stamps.get(date)
                    if stamp is None:
                        stamp = stamps[date] = cal.at(dt.date.fromisoformat(date), dt.time(9, 30))
                    cp.write_row((pids[i], date, session, code, int(late) if late else None, reason or None,
                                  c.staff_id(by) or None, stamp))
                    rows += 1
        raw.driver_connection.commit()  # type: ignore[union-attr]
    finally:
        raw.close()
    return rows


def counts(app: App) -> dict[str, int]:
    with app.sessions() as s:
        return {name: s.scalar(select(func.count()).select_from(model)) or 0
                for name, model in (("chronology", ChronologyEntry), ("cases", Case), ("tasks", Task),
                                    ("letters", Letter))}


# --- one size ------------------------------------------------------------------------------------------------
@dataclass
class Figures:
    pupils: int
    import_s: float
    engine_s: float
    items: int
    work: dict[str, int]

    @property
    def per_pupil_ms(self) -> float:
        return 1000 * (self.import_s + self.engine_s) / self.pupils


def run_size(n_schools: int, bases: list[BaseSchool], config: Config, day: dt.date, admin: str, keep: bool,
             profile: bool) -> Figures:
    copies = [Copy(n, bases[n % len(bases)]) for n in range(n_schools)]
    pupils = n_schools * PER_SCHOOL
    with (tempfile.TemporaryDirectory(prefix="casework-la-") as tmpdir,
          throw_away_database(admin, "casework_la", keep) as url):
        tmp = Path(tmpdir)
        app = App(db_url=url, _config=config)
        app.init()
        cal = app.calendar
        t = time.perf_counter()
        write_roll(copies, tmp)
        set_up_at = cal.at(cal.first_day, dt.time(7))
        for kind in ("pupils", "contacts", "staff"):
            run_import(app.sessions, kind, tmp / f"{kind}.csv", config, cal, set_up_at)
        t_roll = time.perf_counter() - t
        t = time.perf_counter()
        history = copy_history(app, copies, cal)
        with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
        t_copy = time.perf_counter() - t
        print(f"  {pupils:,} pupils: roll (pupils, contacts, staff imports) {t_roll:.0f}s; {history:,} marks of "
              f"history by COPY + VACUUM ANALYZE {t_copy:.0f}s", flush=True)
        # skip the calendar before the day before; run the day before through the engine (warm-up)
        before = cal.previous_school_day(day)
        assert before is not None and cal.previous_school_day(before) is not None, "pick a later --week"
        t = time.perf_counter()
        skip_to = cal.at(cal.previous_school_day(before), dt.time(23, 59))  # type: ignore[arg-type]
        with app.sessions.begin() as s:
            engine.materialize_calendar(s, cal, skip_to, skip_to)
            s.execute(update(Timer).where(Timer.status == "pending").values(status="fired", fired_at=Timer.due_at))
        warm = engine.run(app, cal.at(before, dt.time(23, 59)))
        at_start = counts(app)
        print(f"  warm-up: {before} through the engine in {time.perf_counter() - t:.0f}s "
              f"({warm.total} agenda items, {warm.failed} failed); state {at_start}", flush=True)
        day_file = tmp / "day.csv"
        rows = write_day(copies, day_file)
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.005)
            profiler.start()
        t = time.perf_counter()
        result = run_import(app.sessions, "marks", day_file, config, cal, cal.at(day, dt.time(9, 0)))
        import_s = time.perf_counter() - t
        t = time.perf_counter()
        report = engine.run(app, cal.at(day, dt.time(23, 59)))
        engine_s = time.perf_counter() - t
        if profiler:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False)[:12000], flush=True)
        assert result.added == rows, (result, rows)
        after = counts(app)
        work = {k: after[k] - at_start[k] for k in after}
        print(f"  {day}: import of {rows:,} marks {import_s:.1f}s; engine {engine_s:.1f}s "
              f"({report.total} agenda items {dict(report.processed)}, {report.failed} failed, "
              f"{report.case_errors} case errors); new {work}; peak RSS {rss_mb():.0f} MB", flush=True)
        app.engine.dispose()
    return Figures(pupils, import_s, engine_s, report.total, work)




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schools", default="10,100", help="comma-separated school counts (the first is the base)")
    ap.add_argument("--week", type=int, default=2, help="school week of the timed day")
    ap.add_argument("--db", default=ADMIN, help="admin URL of a PostgreSQL server (throw-away databases)")
    ap.add_argument("--distinct", type=int, default=10, help="distinct synthetic schools, reused cyclically")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the databases")
    ap.add_argument("--profile", action="store_true", help="pyinstrument profile of the timed day per size")
    args = ap.parse_args()
    config = load_config(ROOT / "config.yaml")
    cal = SchoolCalendar(config)
    day = week_day(cal, args.week)
    sizes = [int(x) for x in args.schools.split(",")]
    t = time.perf_counter()
    bases = [base_school(args.seed + k, config, cal, day) for k in range(min(args.distinct, max(sizes)))]
    print(f"{len(bases)} synthetic schools of {PER_SCHOOL:,} pupils to {day} generated in "
          f"{time.perf_counter() - t:.0f}s", flush=True)
    figures = []
    for n in sizes:
        print(f"{n} schools:", flush=True)
        figures.append(run_size(n, bases, config, day, args.db, args.keep, args.profile))
    small = figures[0]
    parts = [f"{f.pupils:,} pupils: {f.import_s:.1f}s import + {f.engine_s:.1f}s engine = "
             f"{f.per_pupil_ms:.3f} ms/pupil" for f in figures]
    ratios = [f.per_pupil_ms / small.per_pupil_ms for f in figures[1:]]
    worst = max(ratios, default=1.0)
    verdict = ("meets" if worst <= TARGET else "misses") if ratios else "one size: no ratio for"
    shown = " / ".join(f"{f.pupils:,}:{small.pupils:,} {r:.2f}" for f, r in zip(figures[1:], ratios, strict=True))
    print(f"LA scale (PostgreSQL), one day {day}: " + "; ".join(parts) +
          f"; cost per pupil ratio {shown or '-'} ({verdict} target <= {TARGET:g})")


if __name__ == "__main__":
    main()
