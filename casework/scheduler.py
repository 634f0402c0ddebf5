"""`casework serve`: APScheduler 3.x calling the same engine loop as `casework run`.

Memory job store only: our timers are database rows, never pickled jobs, so a restart loses nothing.
A heartbeat catches up after downtime; a one-off job wakes the loop at the next agenda instant.
misfire_grace_time=None (a late job still runs), coalesce=True, max_instances=1.
"""
from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from casework import engine
from casework.context import App

logger = logging.getLogger("casework.scheduler")
JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}


def build_scheduler(app: App, *, heartbeat_seconds: int,
                    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                    **scheduler_kw: Any) -> BackgroundScheduler:
    sched = BackgroundScheduler(job_defaults=JOB_DEFAULTS, timezone=app.config.tz, **scheduler_kw)
    lock = threading.Lock()

    def tick() -> None:
        if not lock.acquire(blocking=False):
            return
        try:
            report = engine.run(app, clock())
            if report.total:
                logger.info("processed %s agenda items", report.total)
            upcoming = engine.next_due(app)
            if upcoming is not None:
                sched.add_job(tick, "date", run_date=max(upcoming, clock()), id="next_agenda_item",
                              replace_existing=True)
        finally:
            lock.release()

    sched.add_job(tick, "interval", seconds=heartbeat_seconds, id="heartbeat",
                  next_run_time=clock())
    return sched


def serve_forever(app: App, *, heartbeat_seconds: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    sched = build_scheduler(app, heartbeat_seconds=heartbeat_seconds)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with engine.single_worker(app):
        pass  # refuse early if another worker holds the SQLite file
    sched.start()
    logger.info("casework scheduler running (heartbeat %ss); SIGTERM stops it", heartbeat_seconds)
    stop.wait()
    logger.info("stopping: waiting for the running job to finish")
    sched.shutdown(wait=True)
