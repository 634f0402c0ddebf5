"""`casework serve`: APScheduler 3.x calling the same engine loop as `casework run`.

Memory job store only: our timers are database rows, never pickled jobs, so a restart loses nothing.
A heartbeat catches up after downtime; a one-off job wakes the loop at the next agenda instant; after each
run the outbox is delivered. The web server (casework.web.server) starts and stops it.
misfire_grace_time=None (a late job still runs), coalesce=True, max_instances=1.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from casework import engine
from casework.context import App

logger = logging.getLogger("casework.scheduler")
JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}


def build_scheduler(app: App, *, heartbeat_seconds: int,
                    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC), deliver: bool = True,
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
            if deliver:  # after the agenda's commits: the outbox goes out, each attempt recorded
                from notifications.deliver import deliver_pending

                sent = deliver_pending(app, clock())
                if sent.attempts:
                    logger.info("outbox: %s", sent.summary())
            upcoming = engine.next_due(app)
            if upcoming is not None:
                sched.add_job(tick, "date", run_date=max(upcoming, clock()), id="next_agenda_item",
                              replace_existing=True)
        finally:
            lock.release()

    sched.add_job(tick, "interval", seconds=heartbeat_seconds, id="heartbeat",
                  next_run_time=clock())
    return sched
