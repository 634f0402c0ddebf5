"""`casework serve`: the web inbox and the scheduler in one process; SIGTERM stops both cleanly."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_on_127_0_0_1_runs_the_scheduler_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "CASEWORK_DB": f"sqlite:///{tmp_path / 'casework.db'}",
           "CASEWORK_CONFIG": str(ROOT / "config.yaml")}
    proc = subprocess.Popen([sys.executable, "-m", "casework", "serve", "--port", str(port), "--heartbeat", "3600"],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    rest = ""
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # blocks until uvicorn says it listens (or the process ends)
            log.append(line)
            if "Uvicorn running on" in line:
                break
        assert f"http://127.0.0.1:{port}" in "".join(log), "".join(log)
        page = httpx.get(f"http://127.0.0.1:{port}/sign-in", timeout=30)
        assert page.status_code == 200 and "Sign in" in page.text
        assert httpx.get(f"http://127.0.0.1:{port}/api/me", timeout=30).status_code == 401
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log.append(rest or "")
    assert proc.returncode == 0, "".join(log)
    text = "".join(log)
    assert "Scheduler started" in text and "stopping the scheduler" in text
