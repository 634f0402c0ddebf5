"""Soak: the fault harness of tests/faults.py (and tests/e2e/test_faults.py), longer. A synthetic school for a
whole year (or to --until) run by `casework run` processes SIGKILLed at random committed items, delivery runs
killed while an email is in DATA and in the middle of the print run, and optionally the database going away
(PostgreSQL: backends terminated, or the server restarted); then resumed and compared with an uninterrupted
run of the same school. Prints the figures; the last line is the summary (kills survived, items, duplicates
found: 0 when all is well). Exit status 1 when anything differs, was lost or happened twice.

    python bench/soak.py [--pupils 60] [--until YYYY-MM-DD] [--kills 40] [--send-kills 5] [--print-kills 2]
                         [--seed 2026] [--db postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                         [--drop-connections N] [--restart-postgres N] [--real-pdf] [--exec] [--keep DIR]

--db is an admin URL: throw-away databases are created through it and dropped at the end. --drop-connections
terminates the victim database's backends mid-run N times (only that database); --restart-postgres restarts
the whole local cluster (`pg_ctlcluster --skip-systemctl-redirect 15 main restart`) N times: every other
client of that server loses its connections too, so use it on a machine of your own. --real-pdf renders the
print runs with WeasyPrint (about 0.7 s a letter, each time a day's run is made); by default a manifest
stands in for the PDF. --exec starts a fresh interpreter for every command instead of forking them from one
that imported the package once.
"""
from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from casework.calendar import SchoolCalendar  # noqa: E402
from casework.config import load_config  # noqa: E402
from tests.faults import (  # noqa: E402
    Db,
    Exec,
    Figures,
    ForkServer,
    Plan,
    Providers,
    build_school,
    compare,
    due_pending,
    kill_and_resume,
    target,
    timed,
    uninterrupted,
)


def terminate_backends(db: Db, _n: int) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(db.url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    eng.dispose()


class Restarter:
    """Restarts the local PostgreSQL 15 cluster once in a faulty run (the worker's next query fails, or its
    pool reconnects between two items and it never notices)."""

    count = 0

    def __call__(self, _db: Db, n: int) -> None:
        if n == 0:
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"], check=True)
            self.count += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pupils", type=int, default=60)
    ap.add_argument("--until", help="last school day of the run (default: the end of the year)")
    ap.add_argument("--kills", type=int, default=40, help="SIGKILLs of `casework run` (agenda)")
    ap.add_argument("--send-kills", type=int, default=5, help="SIGKILLs while an email is in DATA")
    ap.add_argument("--print-kills", type=int, default=2, help="SIGKILLs in the middle of the print run")
    ap.add_argument("--seed", type=int, default=2026, help="the kill points (the school's seed is 3)")
    ap.add_argument("--db", help="PostgreSQL admin URL (default: SQLite files in a temporary folder)")
    ap.add_argument("--drop-connections", type=int, default=0, metavar="N")
    ap.add_argument("--restart-postgres", type=int, default=0, metavar="N")
    ap.add_argument("--real-pdf", action="store_true")
    ap.add_argument("--exec", action="store_true", help="a fresh interpreter per command")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = ap.parse_args(argv)
    if (args.drop_connections or args.restart_postgres) and not args.db:
        ap.error("--drop-connections and --restart-postgres need --db (PostgreSQL)")
    config = load_config(ROOT / "config.yaml")
    cal = SchoolCalendar(config)
    last = dt.date.fromisoformat(args.until) if args.until else cal.last_day
    after = last + dt.timedelta(days=1)
    plan = Plan(until=f"{last}T23:59", deliver_at=f"{after}T08:00", reconcile_at=f"{after}T09:00",
                agenda_kills=args.kills, send_kills=args.send_kills, print_kills=args.print_kills, seed=args.seed,
                db_faults=args.drop_connections or args.restart_postgres)
    fault: Any = None
    if args.restart_postgres:
        fault = Restarter()
    elif args.drop_connections:
        fault = terminate_backends
    figures, started = Figures(), time.perf_counter()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="casework-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    made: list[Db] = []
    print(f"soak: {args.pupils} pupils to {last}, {args.kills} agenda kills, {plan.db_faults} database faults, "
          f"{args.send_kills} send kills, {args.print_kills} print kills, seed {args.seed}, "
          f"{'PostgreSQL' if args.db else 'SQLite'}, {'WeasyPrint' if args.real_pdf else 'manifest'} print runs, "
          f"work in {folder}", flush=True)
    with Providers() as providers:
        base = (Db.postgres(args.db, f"casework_soak_{uuid.uuid4().hex[:8]}") if args.db
                else Db.sqlite(folder / "school.db"))
        made.append(base)
        launcher: Any = (Exec(folder / "workers", fake_print=not args.real_pdf) if args.exec
                         else ForkServer(folder / "workers", fake_print=not args.real_pdf))
        try:
            with timed(figures, "build"):
                rows = build_school(base, config, args.pupils, 3, last)
            print(f"school: {rows}", flush=True)
            ref_t = target(base.copy("reference"), folder / "reference", providers)
            made.append(ref_t.db)
            with timed(figures, "uninterrupted"):
                ref = uninterrupted(ref_t, plan, launcher, providers)
            print(f"uninterrupted: {sum(ref.items.values())} items, {sum(ref.emails.values())} emails, "
                  f"{sum(ref.texts.values())} SMS, {sum(ref.post.values())} letters queued for post", flush=True)
            victim = target(base.copy("victim"), folder / "victim", providers)
            made.append(victim.db)
            with timed(figures, "with faults"):
                got = kill_and_resume(victim, plan, launcher, providers, sum(ref.items.values()), figures,
                                      log=lambda m: print(f"  {m}", flush=True), db_fault=fault)
            compare(ref, got, figures)
            pending = due_pending(victim.db.url, dt.datetime.fromisoformat(plan.until).replace(
                tzinfo=config.tz).astimezone(dt.UTC))
            figures.lost += len(pending)
        finally:
            launcher.close()
            if not args.keep:
                for db in reversed(made):
                    db.drop()
    for d in figures.differences[:40]:
        print(f"DIFFERENCE {d}")
    if isinstance(fault, Restarter):
        print(f"postgres restarted {fault.count} times")
    print(f"runs {figures.runs}, items logged by the interrupted runs {figures.items_logged}, "
          f"seconds {dict(figures.seconds)}, total {time.perf_counter() - started:.1f}")
    print(figures.summary())
    return 0 if not figures.differences and figures.duplicates == 0 and figures.lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
