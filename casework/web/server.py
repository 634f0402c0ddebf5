"""`casework serve`: the web inbox under uvicorn and the scheduler beside it, in one process.

The scheduler (casework.scheduler.build_scheduler) runs the engine loop in a background thread; uvicorn
serves the app in the main thread and handles SIGTERM and SIGINT. When uvicorn returns, the scheduler is
shut down; a loop that is running finishes its item before the process exits.
"""
from __future__ import annotations

import logging
import signal

import uvicorn

from casework import engine
from casework.context import App
from casework.scheduler import build_scheduler
from casework.web import create_app

logger = logging.getLogger("casework.web")


def serve_web(app: App, *, host: str, port: int, heartbeat_seconds: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)  # a line per state change would drown the log
    with engine.single_worker(app):
        pass  # refuse early if another worker holds the SQLite file
    web = create_app(app)
    sched = build_scheduler(app, heartbeat_seconds=heartbeat_seconds)
    sched.start()
    logger.info("scheduler running (heartbeat %ss); web inbox on http://%s:%s", heartbeat_seconds, host, port)
    # uvicorn catches SIGTERM/SIGINT, shuts down, then re-raises the signal to the handler it found: with
    # the default one the process would die there, before the scheduler is shut down. Ours only notes it.
    previous = {sig: signal.signal(sig, _noted) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        # proxy headers from a local reverse proxy tell us when staff use https (cookies become Secure)
        uvicorn.run(web, host=host, port=port, proxy_headers=True, forwarded_allow_ips="127.0.0.1",
                    log_level="info", lifespan="off")
    finally:
        logger.info("stopping the scheduler: the running job finishes before the process exits")
        # wait=False: APScheduler 3 holds its job-store lock while waiting for running jobs, and our tick
        # adds its next job when it ends, so wait=True deadlocks if a loop is running. The job's worker
        # thread is still joined before the interpreter exits (concurrent.futures), so nothing is cut off.
        sched.shutdown(wait=False)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _noted(sig: int, frame: object) -> None:
    logger.info("signal %s: stopping", sig)
