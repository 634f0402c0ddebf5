"""Benchmark: the inbox at 1,000 tasks and at 100,000 tasks (issue 8). Target: 100k over 1k at 2x or less.

A school of 1,500 pupils in 50 forms (years 7-11), its staff by role, cases and tasks over every task kind
of config.yaml are bulk-inserted into a fresh database. The school's current work is the same at both sizes
(OPEN_TASKS open tasks, due within two weeks either side of "now"); what grows is the history: done (87%) and
cancelled (13%) tasks of the previous two years. That is the question the ratio asks (DESIGN.md
"Performance"): does a large tasks table slow the inbox? (With the open share fixed instead, 7% of 100,000
tasks = 7,000 open tasks for 1,500 pupils, the inbox shows 45 times the rows at 100k and the ratio measures
the page's size, not the queries.) For each size, the web inbox (casework.web.views.inbox: mine, my roles'
queue and done, each through casework.tasks.inbox and narrowed to the viewer's scope) is timed for a form
tutor (their form), a pastoral manager (their year group), the office and the attendance lead, each run in
a new session, as a request is. The first 1,000 tasks are measured, then 99,000 more of history are added
and the same staff measured again. Not a test: it prints figures, the last line being the summary.

    python bench/inbox.py [--repeat 200] [--budget 20] [--db postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                          [--pg-only] [--profile]

With --db the benchmark runs on SQLite and then on a throw-away database on that PostgreSQL server
(--pg-only: PostgreSQL only). --profile prints a pyinstrument profile of the attendance lead's inbox at each
size.
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import fresh_database
from sqlalchemy import insert, select, text

from casework.config import Config, load_config
from casework.context import App
from casework.models import Case, Pupil, Staff, Task
from casework.upn import make_upn
from casework.web.access import scope_of
from casework.web.guard import Viewer
from casework.web.settings import Web, WebSettings
from casework.web.views import InboxFilter
from casework.web.views import inbox as web_inbox

ROOT = Path(__file__).resolve().parent.parent
YEARS = (7, 8, 9, 10, 11)
FORMS_PER_YEAR, PUPILS_PER_FORM = 10, 30  # 50 forms, 1,500 pupils
SIZES = (1_000, 100_000)
NOW = dt.datetime(2027, 3, 10, 10, 0, tzinfo=dt.UTC)  # the benchmark's "now": history before, open work around
OPEN_TASKS = 150  # the school's current work (a tenth of the roll), the same at both sizes
CANCELLED = 0.13  # of the history; the rest is done
TASKS_PER_CASE = 8
BATCH = 5_000
TARGET = 2.0
MIN_RUNS = 20


@dataclass(frozen=True)
class School:
    pupils: list[tuple[int, str, int]]  # id, form, year group
    staff: dict[str, list[int]]  # role -> staff row ids
    tutor_of: dict[str, int]  # form -> tutor row id
    manager_of: dict[int, int]  # year group -> pastoral manager row id
    tasks: int = 0
    cases: int = 0


@dataclass(frozen=True)
class Scenario:
    name: str
    staff_id: str


SCENARIOS = (Scenario("form tutor 9C", "tutor-9C"), Scenario("pastoral manager Y10", "pastoral-10"),
             Scenario("office", "office-1"), Scenario("attendance lead", "lead-1"))


# --- the database ------------------------------------------------------------------------------------------


def forms() -> list[tuple[str, int]]:
    return [(f"{y}{chr(ord('A') + i)}", y) for y in YEARS for i in range(FORMS_PER_YEAR)]


def pupil_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for k, (form, year) in enumerate(forms()):
        for n in range(PUPILS_PER_FORM):
            serial = 1 + (k % FORMS_PER_YEAR) * PUPILS_PER_FORM + n  # unique within the year, < 1000
            rows.append({"school_id": 1, "upn": make_upn(823, 4321, 2026 + 7 - year, serial),
                         "given_name": f"Pupil{year}-{serial}", "family_name": f"Form{form}", "year_group": year,
                         "form": form, "date_of_birth": dt.date(2026 - year - 5, 1 + n % 12, 1 + n % 28)})
    return rows


def staff_rows() -> list[dict[str, Any]]:
    def member(staff_id: str, roles: list[str], forms_: list[str] | None = None,
               years: list[int] | None = None) -> dict[str, Any]:
        return {"staff_id": staff_id, "name": staff_id.replace("-", " ").title(), "email": f"{staff_id}@school.test",
                "roles": roles, "forms": forms_ or [], "year_groups": years or [], "active": True}

    rows = [member(f"tutor-{f}", ["form_tutor"], forms_=[f]) for f, _ in forms()]
    rows += [member(f"pastoral-{y}", ["pastoral_manager"], years=[y]) for y in YEARS]
    rows += [member("hoks-ks3", ["head_of_key_stage"], years=[7, 8, 9]),
             member("hoks-ks4", ["head_of_key_stage"], years=[10, 11])]
    rows += [member(f"office-{i}", ["office"]) for i in (1, 2, 3)]
    rows += [member("lead-1", ["attendance_lead"]), member("head-1", ["headteacher"]),
             member("slt-1", ["senior_leader"]), member("slt-2", ["senior_leader"]),
             member("dsl-1", ["safeguarding_lead"]), member("rsi-1", ["rsi"]),
             member("community-1", ["community_support"]), member("panel-1", ["governor_panel"])]
    return rows


def build_school(app: App) -> School:
    with app.sessions.begin() as s:
        s.execute(insert(Pupil), pupil_rows())
        s.execute(insert(Staff), staff_rows())
        pupils = [(i, f, y) for i, f, y in s.execute(select(Pupil.id, Pupil.form, Pupil.year_group))]
        staff = list(s.execute(select(Staff.id, Staff.roles, Staff.forms, Staff.year_groups)))
    by_role: dict[str, list[int]] = {}
    for sid, roles, _, _ in staff:
        for r in roles:
            by_role.setdefault(r, []).append(sid)
    tutor_of = {f: sid for sid, roles, fs, _ in staff if "form_tutor" in roles for f in fs}
    manager_of = {y: sid for sid, roles, _, ys in staff if "pastoral_manager" in roles for y in ys}
    return School(pupils, by_role, tutor_of, manager_of)


def owner(school: School, role: str, form: str, year: int, rng: random.Random) -> int:
    """The member of staff who does a task of `role` for a pupil of `form` and `year`."""
    if role == "form_tutor":
        return school.tutor_of[form]
    if role == "pastoral_manager":
        return school.manager_of[year]
    return rng.choice(school.staff[role])


def task_row(i: int, school: School, config: Config, rng: random.Random, case_id: int) -> dict[str, Any]:
    kind = rng.choice(sorted(config.tasks))
    spec = config.tasks[kind]
    pid, form, year = rng.choice(school.pupils)
    status = "open" if i < OPEN_TASKS else "cancelled" if rng.random() < CANCELLED else "done"
    if status == "open":
        due = NOW + dt.timedelta(hours=rng.uniform(-14 * 24, 14 * 24))
    else:
        due = NOW - dt.timedelta(hours=rng.uniform(15 * 24, 2 * 365 * 24))
    who = owner(school, spec.role, form, year, rng)
    assignee = who if status == "done" or (status == "open" and rng.random() < 0.3) else None
    done = status == "done"
    return {"key": f"bench:{i}", "kind": kind, "title": spec.title, "rule": spec.rule, "pupil_id": pid,
            "case_id": case_id, "role": spec.role, "assignee_id": assignee, "status": status, "due_at": due,
            "created_at": due - dt.timedelta(days=2), "outcome": "done" if done else None,
            "completed_by": f"staff-{who}" if done else None,
            "completed_at": due - dt.timedelta(hours=rng.uniform(0, 40)) if done else None, "data": {},
            "version": 1}


def case_rows(start: int, count: int, school: School, rng: random.Random) -> list[dict[str, Any]]:
    opened = NOW - dt.timedelta(days=30)
    return [{"pupil_id": rng.choice(school.pupils)[0], "workflow": "escalation", "workflow_version": 1,
             "key": f"bench:{start + n}", "state": "stage_2", "opened_at": opened, "updated_at": opened,
             "closed_at": None if rng.random() < 0.1 else NOW - dt.timedelta(days=1), "data": {}, "version": 1}
            for n in range(count)]


def add_tasks(app: App, school: School, upto: int, rng: random.Random) -> School:
    """Tasks (and their cases) up to `upto` in all, in bulk batches."""
    done, cases = school.tasks, school.cases
    while done < upto:
        n = min(BATCH, upto - done)
        with app.sessions.begin() as s:
            new_cases = (done + n + TASKS_PER_CASE - 1) // TASKS_PER_CASE - cases
            s.execute(insert(Case), case_rows(cases, new_cases, school, rng))
            ids = list(s.scalars(select(Case.id).order_by(Case.id.desc()).limit(new_cases)))
            s.execute(insert(Task), [task_row(done + k, school, app.config, rng, rng.choice(ids)) for k in range(n)])
        done, cases = done + n, cases + new_cases
    if app.engine.dialect.name == "postgresql":  # autovacuum would have analysed a table of this age
        with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("ANALYZE"))
    return School(school.pupils, school.staff, school.tutor_of, school.manager_of, done, cases)


# --- timing -------------------------------------------------------------------------------------------------
def viewer_for(app: App, staff_id: str) -> Viewer:
    with app.sessions() as s:
        st = s.scalar(select(Staff).where(Staff.staff_id == staff_id))
        assert st is not None
        return Viewer(id=st.id, staff_id=st.staff_id, name=st.name, roles=tuple(st.roles),
                      scope=scope_of(st, app.config), token="bench", via="cookie")


def one_inbox(web: Web, viewer: Viewer) -> Callable[[], int]:
    def run() -> int:
        with web.app.sessions() as s:
            lists = web_inbox(s, web, viewer, InboxFilter())
        return sum(len(rows) for rows in lists.values())

    return run


def timings(fn: Callable[[], int], repeat: int, budget: float) -> tuple[list[float], int]:
    """Up to `repeat` timed runs, fewer (but at least MIN_RUNS) when they would take over `budget` seconds."""
    rows = fn()  # warm up (statement cache, pages)
    fn()
    out: list[float] = []
    start = time.perf_counter()
    while len(out) < repeat and (len(out) < MIN_RUNS or time.perf_counter() - start < budget):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out, rows


def p50_p95(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    return statistics.median(samples), cuts[18]


Figures = dict[str, tuple[float, float, int, int]]  # scenario -> p50, p95 (seconds), rows shown, runs


def measure(app: App, repeat: int, budget: float) -> Figures:
    web = Web(app, lambda: NOW, WebSettings())
    out: Figures = {}
    for sc in SCENARIOS:
        samples, rows = timings(one_inbox(web, viewer_for(app, sc.staff_id)), repeat, budget)
        out[sc.name] = (*p50_p95(samples), rows, len(samples))
    return out


def report(kind: str, size: int, figures: Figures) -> None:
    for name, (p50, p95, rows, runs) in figures.items():
        print(f"  {kind:10} {size:>7,} tasks  {name:22} p50 {1000 * p50:8.2f} ms  p95 {1000 * p95:8.2f} ms  "
              f"({rows:,} rows shown, {runs} runs)", flush=True)


def ratios(small: Figures, large: Figures) -> dict[str, float]:
    return {name: large[name][0] / small[name][0] for name in small}


def profile(app: App, kind: str, size: int) -> None:
    """A pyinstrument profile of the attendance lead's inbox (the largest), ten requests."""
    from pyinstrument import Profiler

    web = Web(app, lambda: NOW, WebSettings())
    fn = one_inbox(web, viewer_for(app, "lead-1"))
    fn()
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(10):
            fn()
    print(f"--- profile: {kind}, {size:,} tasks, attendance lead, 10 requests")
    print(profiler.output_text(unicode=False, color=False, show_all=False)[:5000], flush=True)


def run(kind: str, url: str, config: Config, repeat: int, budget: float, seed: int,
        profiling: bool = False) -> tuple[Figures, Figures]:
    app = App(db_url=url, _config=config)
    app.init()
    rng = random.Random(seed)
    school = build_school(app)
    results = []
    for size in SIZES:
        t = time.perf_counter()
        school = add_tasks(app, school, size, rng)
        print(f"{kind}: {school.tasks:,} tasks in {school.cases:,} cases, inserted in "
              f"{time.perf_counter() - t:.1f} s", flush=True)
        figures = measure(app, repeat, budget)
        report(kind, size, figures)
        results.append(figures)
        if profiling:
            profile(app, kind, size)
    app.engine.dispose()
    return results[0], results[1]


def summary(kind: str, small: Figures, large: Figures) -> str:
    r = ratios(small, large)
    worst = max(r, key=r.__getitem__)
    parts = ", ".join(f"{name} {1000 * small[name][0]:.1f}/{1000 * small[name][1]:.1f} -> "
                      f"{1000 * large[name][0]:.1f}/{1000 * large[name][1]:.1f} ms (x{r[name]:.1f})" for name in small)
    return f"{kind}: p50/p95 1k -> 100k: {parts}; worst ratio {r[worst]:.1f} ({worst})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", help="also run on this PostgreSQL server (a throw-away database is created)")
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--budget", type=float, default=20.0,
                    help="seconds per scenario and size after which to stop repeating (at least 20 runs)")
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--pg-only", action="store_true", help="with --db: PostgreSQL only, not SQLite")
    ap.add_argument("--profile", action="store_true", help="pyinstrument profile of the lead's inbox per size")
    args = ap.parse_args()
    if args.pg_only and not args.db:
        ap.error("--pg-only needs --db")
    config = load_config(ROOT / "config.yaml")
    kinds = ([] if args.pg_only else ["sqlite"]) + (["postgresql"] if args.db else [])
    lines, worst = [], 0.0
    with tempfile.TemporaryDirectory(prefix="casework-bench-") as tmpdir:
        for kind in kinds:
            with fresh_database(args.db if kind == "postgresql" else None, Path(tmpdir)) as url:
                small, large = run(kind, url, config, args.repeat, args.budget, args.seed, args.profile)
            lines.append(summary(kind, small, large))
            worst = max(worst, *ratios(small, large).values())
    verdict = "meets" if worst <= TARGET else "misses"
    print(" | ".join(lines) + f" | worst ratio {worst:.1f}, {verdict} the target (<= {TARGET:g})")


if __name__ == "__main__":
    main()
