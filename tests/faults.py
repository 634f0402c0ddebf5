"""A fault-injection harness: a synthetic school, `casework` processes killed with SIGKILL at random points
(seeded), and a comparison with an uninterrupted run of the same school. Used by tests/e2e/test_faults.py
(bounded, in CI) and bench/soak.py (longer, optionally on PostgreSQL).

- `build_school`: the synthetic school of `casework simulate` (casework.synthetic: realistic absence, contacts,
  staff for every role), imported at a fixed instant, marks up to the horizon.
- `snapshot`: every row the engine and the delivery produce (cases, tasks, timers, letters, delivery attempts,
  chronology, marks, mark changes, staff notices, penalty notices), every column but surrogate ids. References
  to engine-made rows (a task's case, `timer:<case id>:...`, `task_reminder:<task id>`, `(task 12)` in a
  notice, ...) are replaced by the row's rank in its table: PostgreSQL sequences skip the ids a killed
  transaction used, SQLite reuses them, and neither may count as a difference.
- `Providers`: an SMTP server and an SMS gateway on loopback that record what reached them (so a letter sent
  twice is seen where the parent would see it) and can SIGKILL the sending worker while a message is in DATA.
- Workers are real `casework` commands. `ForkServer` runs them as children of one process that imported the
  package once (the click command itself runs in the child; a cold `python -m casework` costs 2-5 s on a
  busy two-core machine, which would swallow the CI budget in interpreter start-ups); `Exec` starts
  `python -m ...` each time. The print run's PDF rendering (WeasyPrint, ~0.7 s a letter) is replaced by a
  manifest of the queued letters' hashes when `fake_print` is on; everything else is the real code.
- Time is controlled: the agenda runs to `--until`, the outbox is delivered with `casework deliver --at`
  (`casework run`'s own delivery stamps attempts with the wall clock), and a later `deliver --at` past the
  in-flight window reconciles the letters a killed delivery left in flight.

    python -m tests.faults forkserver [--fake-print]  # the fork server (spoken to over stdin/stdout)
    python -m tests.faults exec ARGS...                # one `casework ARGS...` (CASEWORK_FAULTS_FAKE_PRINT=0: real PDF)
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
FAKE_PRINT_ENV, STALL_PRINT_ENV = "CASEWORK_FAULTS_FAKE_PRINT", "CASEWORK_FAULTS_STALL_PRINT"
RANKED = ("cases", "tasks", "letters", "mark_changes", "penalty_notices", "delivery_attempts")
COMPARED = ("cases", "tasks", "timers", "letters", "delivery_attempts", "chronology", "marks", "mark_changes",
            "staff_notices", "penalty_notices")
DELIVERY_COLUMNS = ("status", "next_attempt_at", "sent_at")  # a letter's delivery state, compared on its own
# ids written into keys and texts, by the table they point at
KEY_IDS = {"tasks": [(re.compile(r"^(\d+)(?=:)"), "cases")],
           "timers": [(re.compile(r"^timer:(\d+)(?=:)"), "cases"),
                      (re.compile(r"^task_(?:reminder|expiry):(\d+)$"), "tasks"),
                      (re.compile(r"^mark_changed:(\d+)$"), "mark_changes")],
           "staff_notices": [(re.compile(r"^(?:reminder|escalation):(\d+)$"), "tasks")]}
TEXT_IDS = re.compile(r"(?i)\b(task|letter|mark_change|penalty[ _]notice|case)([: ])(\d+)\b")
TEXT_TABLES = {"task": "tasks", "letter": "letters", "mark_change": "mark_changes", "penalty notice":
               "penalty_notices", "penalty_notice": "penalty_notices", "case": "cases"}
JSON_IDS = {"started_by_case": "cases", "case_id": "cases", "task_id": "tasks", "change_id": "mark_changes",
            "letter_id": "letters"}


# --- databases -------------------------------------------------------------------------------------
@dataclass
class Db:
    """A throw-away database: an SQLite file, or a PostgreSQL database made through an admin URL."""

    url: str
    admin: str | None = None  # PostgreSQL: the URL used to create and drop it

    @classmethod
    def sqlite(cls, path: Path) -> Db:
        return cls(f"sqlite:///{path}")

    @classmethod
    def postgres(cls, admin: str, name: str, template: str | None = None) -> Db:
        from sqlalchemy import create_engine, text

        eng = create_engine(admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
        eng.dispose()
        return cls(admin.rsplit("/", 1)[0] + f"/{name}", admin)

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def path(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///"))

    def copy(self, name: str) -> Db:
        """The same database under another name (a consistent copy: SQLite's backup, PostgreSQL's template)."""
        if self.admin is None:
            target = self.path.with_name(f"{name}.db")
            src, dst = sqlite3.connect(self.path), sqlite3.connect(target)
            with dst:
                src.backup(dst)
            src.close()
            dst.close()
            return Db.sqlite(target)
        return Db.postgres(self.admin, f"{self.name}_{name}", template=self.name)

    def drop(self) -> None:
        if self.admin is None:
            for suffix in ("", "-wal", "-shm", ".lock"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return
        from sqlalchemy import create_engine, text

        eng = create_engine(self.admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        eng.dispose()


def build_school(db: Db, config: Any, pupils: int, seed: int, until: dt.date) -> dict[str, int]:
    """The synthetic school of `casework simulate` (same generator, same fixed import instant), with every
    register up to `until`. Returns the rows imported per file."""
    from casework.context import App
    from casework.imports import KINDS, run_import
    from casework.synthetic import generate_school, write_csvs

    app = App(db_url=db.url, _config=config)
    app.init()
    cal = app.calendar
    school = generate_school(pupils, seed, config, cal, end=until)
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_csvs(school, tmp)
        at = cal.at(cal.first_day, dt.time(7))
        for kind in KINDS:
            counts[kind] = run_import(app.sessions, kind, Path(tmp) / f"{kind}.csv", config, cal, at).added
    app.engine.dispose()
    return counts


def write_config(path: Path, *, print_dir: Path, smtp_port: int | None = None, sms_url: str | None = None,
                 **delivery: Any) -> Path:
    """The packaged config.yaml with the school's delivery services pointed at the harness (plain SMTP on
    loopback, the loopback SMS gateway, a print queue folder of its own)."""
    import yaml

    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data["delivery"] = {**data.get("delivery", {}), "print_queue_dir": str(print_dir),
                        "smtp": {"host": "127.0.0.1" if smtp_port else None, "port": smtp_port or 25,
                                 "starttls": False, "username": None, "from_address": "attendance@heys.example.org",
                                 "timeout_seconds": 10},
                        "sms": {"url": sms_url, "api_key_env": "CASEWORK_SMS_API_KEY", "sender": "HeysSchool",
                                "timeout_seconds": 10}, **delivery}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


# --- the snapshot -----------------------------------------------------------------------------------
Snapshot = dict[str, Counter[tuple[Any, ...]]]


def snapshot(url: str) -> Snapshot:
    """Every compared table as a multiset of rows (all columns but `id`; references as ranks). A letter's
    delivery state, its attempts and the chronology entries its delivery wrote are keyed by the letter's key
    and kept apart (`letters.delivery`, `delivery_attempts`, `chronology.delivery`)."""
    from sqlalchemy import create_engine, select

    from casework.models import Base

    tables = Base.metadata.tables
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            ranks = {t: {i: n for n, i in enumerate(c.scalars(select(tables[t].c.id).order_by(tables[t].c.id)), 1)}
                     for t in {*RANKED, "pupils", "contacts", "staff"}}
            letters = {r.id: r for r in c.execute(select(tables["letters"]))}
            rows = {t: list(c.execute(select(tables[t]))) for t in COMPARED}
    finally:
        eng.dispose()
    norm = _Normaliser(ranks)
    out: Snapshot = {}
    for t in COMPARED:
        cols = [col for col in tables[t].columns if col.name != "id"]
        for row in rows[t]:
            m = row._mapping
            if t == "letters":
                out.setdefault("letters.delivery", Counter())[(m["key"], *(m[k] for k in DELIVERY_COLUMNS))] += 1
                cols_here = [col for col in cols if col.name not in DELIVERY_COLUMNS]
            elif t == "delivery_attempts":
                out.setdefault(t, Counter())[(letters[m["letter_id"]].key, m["channel"], m["address"], m["attempt"],
                                              m["started_at"], m["finished_at"], m["outcome"], m["error"])] += 1
                continue
            else:
                cols_here = cols
            values = tuple(norm.value(t, col, m[col.name]) for col in cols_here)
            table = t
            if t == "chronology" and (m["ref"] or "").startswith("letter:"):
                le = letters.get(int(m["ref"].split(":", 1)[1]))
                if le is not None and m["at"] != le.created_at:  # written by the delivery, not by the engine
                    table, values = "chronology.delivery", (le.key, *values)
            out.setdefault(table, Counter())[values] += 1
            if (t == "timers" and m["status"] == "failed") or (t == "chronology" and m["category"] == "error"):
                out.setdefault("errors", Counter())[(t, norm.text(t, "key", m["key"]) if t == "timers"
                                                     else m["summary"])] += 1
    for t in (*COMPARED, "letters.delivery", "chronology.delivery", "errors"):
        out.setdefault(t, Counter())
    return out


class _Normaliser:
    def __init__(self, ranks: dict[str, dict[int, int]]):
        self.ranks = ranks

    def rank(self, table: str, ident: int | str) -> str:
        return f"{table}#{self.ranks.get(table, {}).get(int(ident), f'?{ident}')}"

    def text(self, table: str, column: str, s: str) -> str:
        if column == "key":
            for pattern, target in KEY_IDS.get(table, []):
                s = pattern.sub(lambda mo, t=target: mo.group(0).replace(mo.group(1), self.rank(t, mo.group(1))), s)
        return TEXT_IDS.sub(lambda mo: f"{mo.group(1)}{mo.group(2)}"
                            f"{self.rank(TEXT_TABLES[mo.group(1).lower()], mo.group(3))}", s)

    def json(self, table: str, column: str, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: self.rank(JSON_IDS[k], x) if k in JSON_IDS and isinstance(x, int)
                    else self.json(table, column, x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.json(table, column, x) for x in v]
        return self.text(table, column, v) if isinstance(v, str) else v

    def value(self, table: str, col: Any, v: Any) -> Any:
        if v is None:
            return None
        fks = list(col.foreign_keys)
        if fks:
            return self.rank(fks[0].column.table.name, v)
        if isinstance(v, dict | list):
            return json.dumps(self.json(table, col.name, v), sort_keys=True)
        if isinstance(v, str):
            return self.text(table, col.name, v)
        return v


def normalised_items(url: str, items: Counter[str]) -> Counter[str]:
    """Agenda item keys as the snapshot writes them (`task_expiry:<task id>` with the task's rank)."""
    from sqlalchemy import create_engine, select

    from casework.models import Base

    tables = Base.metadata.tables
    eng = create_engine(url)
    with eng.connect() as c:
        ranks = {t: {i: n for n, i in enumerate(c.scalars(select(tables[t].c.id).order_by(tables[t].c.id)), 1)}
                 for t in ("cases", "tasks", "mark_changes")}
    eng.dispose()
    norm = _Normaliser(ranks)
    out: Counter[str] = Counter()
    for key, n in items.items():
        out[norm.text("timers", "key", key)] += n
    return out


def due_pending(url: str, until: dt.datetime) -> list[str]:
    """Agenda items due by `until` and still pending: a lost timer if the run said it was done."""
    from sqlalchemy import create_engine, select

    from casework.models import Timer

    eng = create_engine(url)
    with eng.connect() as c:
        keys = list(c.scalars(select(Timer.key).where(Timer.status == "pending", Timer.due_at <= until)))
    eng.dispose()
    return keys


# --- what reached the parents ------------------------------------------------------------------------
class Providers:
    """SMTP (aiosmtpd, plain, on loopback) and an SMS gateway (tests.integration.servers) that count what
    reaches them, keyed by the letter's key (the Message-ID's digest, the SMS `reference`). `arm_kill(pid, n)`
    SIGKILLs that worker while it waits for the reply to its n-th email's DATA: the message has arrived, the
    outcome is never recorded (the hardest moment: perhaps sent)."""

    def __init__(self) -> None:
        self.emails: list[str] = []  # Message-ID digests, in arrival order
        self.killed: list[str] = []  # the digests whose DATA a kill interrupted
        self._armed: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Providers:
        from aiosmtpd.controller import Controller

        from tests.integration.servers import free_port, sms_gateway

        self._sms_cm = sms_gateway()
        self.sms = self._sms_cm.__enter__()
        self.smtp_port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.smtp_port)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
        self._sms_cm.__exit__(None, None, None)

    @property
    def sms_url(self) -> str:
        return f"http://127.0.0.1:{self.sms.server_port}/v1/messages"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        found = re.search(rb"Message-ID: <letter-\d+-([0-9a-f]+)@", envelope.original_content or b"")
        digest = found.group(1).decode() if found else "?"
        with self._lock:
            self.emails.append(digest)
            if self._armed is not None:
                pid, left = self._armed
                self._armed = (pid, left - 1) if left > 1 else None
                if left == 1:
                    self.killed.append(digest)
                    os.kill(pid, signal.SIGKILL)
        return "250 Message accepted for delivery"

    def arm_kill(self, pid: int, nth: int) -> None:
        with self._lock:
            self._armed = (pid, nth)

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def take(self) -> tuple[Counter[str], Counter[str]]:
        """(emails by digest, SMS by reference) received since the last take; the records are cleared."""
        with self._lock:
            emails, self.emails = Counter(self.emails), []
            texts = Counter(r["body"]["reference"] for r in self.sms.requests)
            self.sms.requests.clear()
        return emails, texts


def email_digest(letter_key: str) -> str:
    """The digest in a letter's Message-ID (notifications.transports.message_id)."""
    return hashlib.sha256(f"{letter_key}:email".encode()).hexdigest()[:24]


def print_runs(folder: Path, letter_keys: dict[int, str]) -> tuple[Counter[str], list[str]]:
    """(post letters queued, by letter key; problems): every day's print run (the manifest the fake printer
    wrote, one line per queued letter) must hold exactly that day's queued letters."""
    queued: Counter[str] = Counter()
    problems = []
    for day in sorted(p for p in folder.glob("*") if p.is_dir()):
        files = sorted(day.glob("letter-*.html"))
        for f in files:
            queued[letter_keys.get(int(f.stem.split("-")[1]), f.name)] += 1
        pdf = folder / f"{day.name}.pdf"
        want = sorted(hashlib.sha256(f.read_text(encoding="utf-8").encode()).hexdigest() for f in files)
        if not pdf.exists():
            problems.append(f"{day.name}: {len(files)} letters queued, no print run")
            continue
        body = pdf.read_bytes()
        if body.startswith(b"FAKE-PRINT-RUN\n"):
            got = sorted(body.decode().split("\n")[1:-1])
            if got != want:
                problems.append(f"{day.name}: the print run has {len(got)} letters, {len(want)} are queued")
    return queued, problems


def letter_keys(url: str) -> dict[int, str]:
    from sqlalchemy import create_engine, select

    from casework.models import Letter

    eng = create_engine(url)
    with eng.connect() as c:
        out = {i: k for i, k in c.execute(select(Letter.id, Letter.key))}
    eng.dispose()
    return out


# --- workers --------------------------------------------------------------------------------------------
class Worker:
    """A running `casework` command: its pid, its standard output line by line, its exit code."""

    def __init__(self, pid: int, stream: IO[str], stderr: Path, waiter: Any):
        self.pid, self.stream, self.stderr_path, self._wait = pid, stream, stderr, waiter
        self.lines: list[str] = []
        self.rc: int | None = None

    def __iter__(self) -> Iterator[str]:
        for line in self.stream:
            self.lines.append(line.rstrip("\n"))
            yield self.lines[-1]

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> int:
        """Reads what is left of the output, then the exit code (-9: killed)."""
        if self.rc is None:
            for _ in self:
                pass
            self.stream.close()
            self.rc = self._wait(self.pid)
        return self.rc

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    @property
    def items(self) -> list[str]:
        return [line[5:] for line in self.lines if line.startswith("item ")]


class ForkServer:
    """`casework` commands forked from one process that imported the package once (see the module doc)."""

    def __init__(self, folder: Path, *, fake_print: bool = True):
        self.folder, self.n = folder, 0
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.faults", "forkserver",
                                      *(["--fake-print"] if fake_print else [])], cwd=ROOT, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def _ask(self, req: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError(f"the fork server died (exit {self.proc.wait()})")
        return dict(json.loads(reply))

    def start(self, args: list[str], env: dict[str, str], cwd: Path) -> Worker:
        self.n += 1
        fifo, err = self.folder / f"w{self.n}.out", self.folder / f"w{self.n}.err"
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo)
        pid = self._ask({"args": args, "env": env, "cwd": str(cwd), "stdout": str(fifo), "stderr": str(err)})["pid"]
        stream = open(fifo, encoding="utf-8")  # noqa: SIM115 - the worker's lifetime; opening lets the child run
        return Worker(pid, stream, err, lambda p: int(self._ask({"wait": p})["rc"]))

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


class Exec:
    """`casework` commands as fresh interpreters (`python -m tests.faults exec`, or `python -m casework`)."""

    def __init__(self, folder: Path, *, fake_print: bool = True):
        self.folder, self.fake_print, self.n = folder, fake_print, 0
        self.procs: dict[int, subprocess.Popen[str]] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def start(self, args: list[str], env: dict[str, str], cwd: Path) -> Worker:
        self.n += 1
        err = self.folder / f"w{self.n}.err"
        cmd = ["-m", "tests.faults", "exec", *args] if self.fake_print else ["-m", "casework", *args]
        full = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        with open(err, "w") as fh:
            proc = subprocess.Popen([sys.executable, *cmd], cwd=cwd, env=full, text=True, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=fh)
        assert proc.stdout is not None
        self.procs[proc.pid] = proc
        return Worker(proc.pid, proc.stdout, err, lambda p: self.procs.pop(p).wait())

    def close(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait()


# --- the harness --------------------------------------------------------------------------------------
@dataclass
class Plan:
    until: str  # the agenda's horizon (`casework run --until`)
    deliver_at: str  # the delivery run (`casework deliver --at`), after the horizon
    reconcile_at: str  # a later delivery run, past delivery.in_flight_minutes
    agenda_kills: int = 8
    send_kills: int = 2
    print_kills: int = 1
    seed: int = 2026
    db_faults: int = 0  # agenda runs during which `db_fault` makes the database go away (PostgreSQL)


@dataclass
class Figures:
    kills: Counter[str] = field(default_factory=Counter)  # by where they landed: agenda, send, print, db
    runs: int = 0  # `casework` processes started against the victim
    items: int = 0  # agenda items of an uninterrupted run
    items_logged: int = 0  # agenda items the victim's runs reported (killed runs included)
    letters: int = 0
    deliveries: int = 0  # emails, SMS and queued post of an uninterrupted run
    unknown: int = 0  # letters a kill left `unknown` (perhaps sent): for a person to check
    duplicates: int = 0
    lost: int = 0
    differences: list[str] = field(default_factory=list)
    seconds: Counter[str] = field(default_factory=Counter)

    @property
    def survived(self) -> int:
        return sum(self.kills.values())

    def summary(self) -> str:
        where = ", ".join(f"{k} {n}" for k, n in sorted(self.kills.items()))
        return (f"kills survived {self.survived} ({where}), items {self.items}, letters {self.letters}, "
                f"deliveries {self.deliveries}, unknown {self.unknown}, duplicates found {self.duplicates}, "
                f"lost {self.lost}, differences {len(self.differences)}")


@dataclass
class Target:
    """One database the harness drives, with its own config (and print queue)."""

    db: Db
    config: Path
    print_dir: Path
    cwd: Path

    def env(self, **extra: str) -> dict[str, str]:
        from tests.integration.servers import SMS_KEY

        return {"CASEWORK_DB": self.db.url, "CASEWORK_CONFIG": str(self.config), "CASEWORK_SMS_API_KEY": SMS_KEY,
                **extra}


def target(db: Db, folder: Path, providers: Providers | None, **delivery: Any) -> Target:
    folder.mkdir(parents=True, exist_ok=True)
    print_dir = folder / "print-queue"
    cfg = write_config(folder / "config.yaml", print_dir=print_dir,
                       smtp_port=providers.smtp_port if providers else None,
                       sms_url=providers.sms_url if providers else None, **delivery)
    return Target(db, cfg, print_dir, folder)


def run_args(plan: Plan) -> list[str]:
    return ["run", "--until", plan.until, "--quiet", "--log-items", "--no-deliver"]


def finish(w: Worker, what: str) -> Worker:
    rc = w.wait()
    if rc != 0:
        raise AssertionError(f"{what} exited {rc}:\n{w.stderr[-3000:]}")
    return w


@dataclass
class Outcome:
    snapshot: Snapshot
    items: Counter[str]
    emails: Counter[str]
    texts: Counter[str]
    post: Counter[str]
    print_problems: list[str]
    killed_letters: set[str] = field(default_factory=set)


def uninterrupted(t: Target, plan: Plan, launcher: Any, providers: Providers | None) -> Outcome:
    """The reference: the agenda to the horizon, the delivery run, the later delivery run."""
    w = finish(launcher.start(run_args(plan), t.env(), t.cwd), "the reference run")
    for at in (plan.deliver_at, plan.reconcile_at):
        finish(launcher.start(["deliver", "--at", at], t.env(), t.cwd), "the reference delivery")
    return _outcome(t, Counter(w.items), providers)


def _outcome(t: Target, items: Counter[str], providers: Providers | None, killed: set[str] | None = None
             ) -> Outcome:
    emails, texts = providers.take() if providers else (Counter(), Counter())
    post, problems = print_runs(t.print_dir, letter_keys(t.db.url))
    return Outcome(snapshot(t.db.url), normalised_items(t.db.url, items), emails, texts, post, problems,
                   set(killed or ()))


def kill_and_resume(t: Target, plan: Plan, launcher: Any, providers: Providers | None, expected_items: int,
                    figures: Figures, log: Any = None, db_fault: Any = None) -> Outcome:
    """SIGKILL the agenda run after a random number of committed items, `agenda_kills` times (and, `db_faults`
    times, call `db_fault(db, n)` after each item from a random one on, until the run gives up); run it to the
    end; then the delivery run, killed `send_kills` times in an email's DATA and `print_kills` times in the
    day's print run; run it to the end; then the later delivery run."""
    rng = random.Random(plan.seed)
    say = log or (lambda _msg: None)
    items: Counter[str] = Counter()
    remaining = expected_items
    kinds = ["agenda"] * plan.agenda_kills + ["db"] * (plan.db_faults if db_fault else 0)
    if len(kinds) > plan.agenda_kills:
        rng.shuffle(kinds)
    for n in range(len(kinds), 0, -1):
        kind = kinds[-n]
        target_items = rng.randint(1, max(1, 2 * remaining // (n + 1)))
        w = launcher.start(run_args(plan), t.env(), t.cwd)
        figures.runs += 1
        faults = 0
        for line in w:
            if line.startswith("item ") and len(w.items) >= target_items:
                if kind == "db":
                    db_fault(t.db, faults)  # and again after the next item, until the worker notices
                    faults += 1
                    continue
                w.kill()
                break
        rc = w.wait()
        items.update(w.items)
        remaining -= len(w.items)
        if rc == -signal.SIGKILL:
            figures.kills["agenda"] += 1
            say(f"agenda kill after {len(w.items)} items (wanted {target_items}); about {remaining} left")
        elif kind == "db" and rc == 1 and "database connection was lost" in w.stderr \
                and "Traceback" not in w.stderr:
            figures.kills["db"] += 1
            say(f"database went away after {len(w.items)} items; about {remaining} left")
        elif rc != 0:
            raise AssertionError(f"an agenda run exited {rc}:\n{w.stderr[-3000:]}")
        else:
            break  # the agenda ran out before this kill
    w = finish(launcher.start(run_args(plan), t.env(), t.cwd), "the resumed run")
    figures.runs += 1
    items.update(w.items)
    for kind in rng.sample(["send"] * plan.send_kills, plan.send_kills) + ["print"] * plan.print_kills:
        if kind == "send":
            w = launcher.start(["deliver", "--at", plan.deliver_at], t.env(), t.cwd)
            assert providers is not None
            providers.arm_kill(w.pid, rng.randint(1, 3))
        else:
            w = launcher.start(["deliver", "--at", plan.deliver_at], t.env(**{STALL_PRINT_ENV: "1"}), t.cwd)
            for line in w:
                if line == "print-run":
                    w.kill()
                    break
        figures.runs += 1
        rc = w.wait()
        if providers:
            providers.disarm()
        if rc == -signal.SIGKILL:
            figures.kills[kind] += 1
            say(f"{kind} kill during the delivery run")
        elif rc != 0:
            raise AssertionError(f"a delivery run exited {rc}:\n{w.stderr[-3000:]}")
    for at in (plan.deliver_at, plan.reconcile_at):
        finish(launcher.start(["deliver", "--at", at], t.env(), t.cwd), "the resumed delivery")
        figures.runs += 1
    killed = {providers.killed.pop() for _ in range(len(providers.killed))} if providers else set()
    return _outcome(t, items, providers, killed)


def compare(ref: Outcome, got: Outcome, figures: Figures) -> Figures:
    """Differences, duplicates and losses of `got` against the uninterrupted `ref`. Letters a kill caught in
    DATA (perhaps sent) must be `unknown`, with their one attempt `unknown`, and never sent again."""
    keys_by_digest = {email_digest(k): k for k, *_ in ref.snapshot["letters.delivery"]}
    unknown = {keys_by_digest.get(d, d) for d in got.killed_letters}
    figures.unknown = len(unknown)
    figures.items = sum(ref.items.values())
    figures.items_logged = sum(got.items.values())
    figures.letters = sum(ref.snapshot["letters.delivery"].values())
    figures.deliveries = sum(ref.emails.values()) + sum(ref.texts.values()) + sum(ref.post.values())
    diffs, dups = figures.differences, 0
    for (table, what), n in ref.snapshot["errors"].items():  # the engine's own failures spoil the comparison
        diffs.append(f"the uninterrupted run failed: {n} x {table} {what}")
    dups += sum(n - 1 for n in got.items.values() if n > 1)
    for key, n in got.items.items():
        if n > 1:
            diffs.append(f"agenda item {key} processed {n} times")
    never = set(ref.items) - set(got.items)
    if len(never) > figures.kills["agenda"] + figures.kills["db"]:  # at most the item in hand at each kill
        diffs.append(f"{len(never)} agenda items never reported: {sorted(never)[:5]}")
    for table in ref.snapshot:
        want, have = ref.snapshot[table], got.snapshot[table]
        if table in ("letters.delivery", "delivery_attempts", "chronology.delivery"):
            want = Counter({r: n for r, n in want.items() if r[0] not in unknown})
            have = Counter({r: n for r, n in have.items() if r[0] not in unknown})
        extra, missing = have - want, want - have
        dups += sum(n for r, n in extra.items() if r in want)
        figures.lost += sum(missing.values()) if table == "timers" else 0
        for r, n in list(extra.items())[:5]:
            diffs.append(f"{table}: {n} extra {r}")
        for r, n in list(missing.items())[:5]:
            diffs.append(f"{table}: {n} missing {r}")
    for key in unknown:
        status = [r[1] for r in got.snapshot["letters.delivery"] if r[0] == key]
        outcomes = [r[6] for r in got.snapshot["delivery_attempts"] if r[0] == key]
        if status != ["unknown"] or "sent" in outcomes or outcomes.count("unknown") != 1:
            diffs.append(f"letter {key} caught in DATA: status {status}, attempts {outcomes}")
    for name, want_c, have_c in (("email", ref.emails, got.emails), ("sms", ref.texts, got.texts),
                                 ("post", ref.post, got.post)):
        for k, n in have_c.items():
            if n > 1:
                dups += n - 1
                diffs.append(f"{name} {k} reached the provider {n} times")
            if k not in want_c:
                diffs.append(f"{name} {k} sent, but never by an uninterrupted run")
        for k in want_c:
            letter = keys_by_digest.get(k, k.rsplit(":", 1)[0] if name == "sms" else k)
            if k not in have_c and letter not in unknown:  # a caught letter's other channel waits for a person
                figures.lost += 1
                diffs.append(f"{name} {k} never reached the provider")
    for p in got.print_problems:
        figures.lost += 1
        diffs.append(f"print run: {p}")
    figures.duplicates = dups
    return figures


# --- inside the worker processes ------------------------------------------------------------------------
def _fake_merge(htmls: Any) -> bytes:
    """Stands in for WeasyPrint's print run: one line per queued letter (its hash). Stalls, announcing
    itself, when the harness wants to kill a worker in the middle of the print run."""
    lines = [hashlib.sha256(h.encode()).hexdigest() for h in htmls]
    if os.environ.get(STALL_PRINT_ENV):
        print("print-run", flush=True)
        signal.pause()  # until the harness's SIGKILL
    return ("FAKE-PRINT-RUN\n" + "".join(f"{x}\n" for x in lines)).encode()


def _install_fake_print() -> None:
    import notifications.pdf

    notifications.pdf.merge_to_pdf = _fake_merge  # type: ignore[assignment]


def _child(req: dict[str, Any]) -> None:
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        out = os.open(req["stdout"], os.O_WRONLY)  # a FIFO: blocks until the harness reads
        err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        nul = os.open(os.devnull, os.O_RDONLY)
        for fd, target_fd in ((nul, 0), (out, 1), (err, 2)):
            os.dup2(fd, target_fd)
        os.environ.update(req["env"])
        os.chdir(req["cwd"])
        from casework.cli import main

        main(req["args"], prog_name="casework")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported, then the child ends
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _forkserver(fake_print: bool) -> None:
    import casework.cli  # noqa: F401 - every command, the engine, the workflows: imported once, here
    import notifications.deliver  # noqa: F401
    import notifications.gather  # noqa: F401
    import notifications.render  # noqa: F401
    import workflows.registry

    workflows.registry.all_workflows()
    if fake_print:
        _install_fake_print()
    channel = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        if "wait" in req:
            _, status = os.waitpid(req["wait"], 0)
            reply: dict[str, Any] = {"rc": os.waitstatus_to_exitcode(status)}
        else:
            channel.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(req)
            reply = {"pid": pid}
        channel.write(json.dumps(reply) + "\n")
        channel.flush()


def _exec(args: list[str]) -> None:
    if os.environ.get(FAKE_PRINT_ENV, "1") == "1":
        _install_fake_print()
    from casework.cli import main

    main(args, prog_name="casework")


@contextmanager
def timed(figures: Figures, what: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        figures.seconds[what] += round(time.perf_counter() - start, 2)


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["forkserver"]:
        _forkserver("--fake-print" in sys.argv[2:])
    elif sys.argv[1:2] == ["exec"]:
        _exec(sys.argv[2:])
    else:
        sys.exit(__doc__)
