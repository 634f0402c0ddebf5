"""Reliability under faults (issue 9), with the harness in tests/faults.py; bench/soak.py runs it longer.

- A half term of a synthetic school (Autumn 1, 30 pupils, realistic absence): `casework run` SIGKILLed at
  random committed items, `casework deliver` SIGKILLed while an email is in DATA and in the middle of the
  day's print run, then resumed: the database equals an uninterrupted run's, every due timer fired exactly
  once, no letter reached a parent twice and none was lost (a letter caught in DATA is `unknown`, for a
  person to check, and never resent).
- PostgreSQL: the database going away mid-run (backends terminated) ends `casework run` with one clear line
  and exit 1; the next run resumes to the uninterrupted run's end state. Two `casework run` workers started
  together over a month produce exactly what one produces.
- The SMTP relay and the SMS gateway down for a while: retried with backoff, reported, and once they are back
  every letter goes exactly once.
The kill points come from seeded RNGs; nothing here waits on a clock (kills are triggered by what the workers
print or send).
"""
from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from casework import engine
from casework.config import Config, Delivery
from casework.context import App
from casework.models import Letter, Timer
from tests.conftest import PG_ADMIN, utc
from tests.faults import (
    Db,
    Exec,
    Figures,
    ForkServer,
    Outcome,
    Plan,
    Providers,
    build_school,
    compare,
    due_pending,
    finish,
    kill_and_resume,
    normalised_items,
    run_args,
    snapshot,
    target,
    uninterrupted,
)

PUPILS, SEED = 30, 3
HALF_TERM = Plan(until="2026-10-23T23:59", deliver_at="2026-10-24T08:00", reconcile_at="2026-10-24T09:00",
                 agenda_kills=8, send_kills=2, print_kills=1, seed=2026)
MONTH = Plan(until="2026-10-01T23:59", deliver_at="2026-10-02T08:00", reconcile_at="2026-10-02T09:00")


def test_half_term_survives_sigkills_at_random_points(tmp_path: Path, config: Config) -> None:
    plan, figures = HALF_TERM, Figures()
    with Providers() as providers:
        base = Db.sqlite(tmp_path / "school.db")
        build_school(base, config, PUPILS, SEED, dt.date(2026, 10, 23))
        server = ForkServer(tmp_path / "workers")
        try:
            ref = uninterrupted(target(base.copy("reference"), tmp_path / "reference", providers), plan, server,
                                providers)
            victim = target(base.copy("victim"), tmp_path / "victim", providers)
            got = kill_and_resume(victim, plan, server, providers, sum(ref.items.values()), figures)
            again = finish(server.start(run_args(plan), victim.env(), victim.cwd), "a run after the end")
            deliver = finish(server.start(["deliver", "--at", plan.reconcile_at, "--json"], victim.env(),
                                          victim.cwd), "a delivery after the end")
        finally:
            server.close()
    compare(ref, got, figures)
    print(figures.summary())
    assert sum(ref.items.values()) > 300 and ref.emails and ref.texts and ref.post  # it all was exercised
    assert figures.kills["agenda"] >= 7 and figures.kills["send"] >= 1 and figures.kills["print"] == 1
    assert figures.survived >= 10
    assert figures.differences == [], "\n".join(figures.differences[:30])
    assert figures.duplicates == 0 and figures.lost == 0
    assert figures.unknown == figures.kills["send"]  # each letter caught in DATA waits for a person
    assert due_pending(victim.db.url, utc(2026, 10, 23, 23)) == []  # no lost timer
    assert again.items == [] and '"attempts": 0' in "\n".join(deliver.lines)  # and nothing happens twice


def test_the_comparison_sees_a_duplicate_and_a_lost_timer(tmp_path: Path, config: Config) -> None:
    """The harness itself can fail: one duplicated chronology entry, one timer put back to pending."""
    base = Db.sqlite(tmp_path / "school.db")
    build_school(base, config, 6, SEED, dt.date(2026, 9, 11))
    app = App(db_url=base.url, _config=config)
    engine.run(app, utc(2026, 9, 11, 20))
    app.engine.dispose()
    ref = Outcome(snapshot(base.url), Counter(), Counter(), Counter(), Counter(), [])
    clean = Figures()
    compare(ref, Outcome(snapshot(base.copy("same").url), Counter(), Counter(), Counter(), Counter(), []), clean)
    assert clean.differences == [] and clean.duplicates == 0
    spoiled = base.copy("spoiled")
    eng = create_engine(spoiled.url)
    with eng.begin() as c:
        c.execute(text("INSERT INTO chronology (at, pupil_id, category, summary, staff, case_id, ref, rule, "
                       "safeguarding) SELECT at, pupil_id, category, summary, staff, case_id, ref, rule, "
                       "safeguarding FROM chronology WHERE id = (SELECT max(id) FROM chronology)"))
        c.execute(text("UPDATE timers SET status = 'pending', fired_at = NULL WHERE id = (SELECT min(id) FROM "
                       "timers WHERE kind = 'day_end')"))
    eng.dispose()
    figures = compare(ref, Outcome(snapshot(spoiled.url), Counter(), Counter(), Counter(), Counter(), []),
                      Figures())
    assert figures.duplicates == 1 and figures.lost == 1
    assert any(d.startswith("chronology: 1 extra") for d in figures.differences)
    assert len(due_pending(spoiled.url, utc(2026, 9, 11, 20))) == 1


# --- PostgreSQL: the database going away, and two workers -------------------------------------------------
@pytest.fixture(scope="module")
def pg_month(pg_url: str, config: Config, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[dict[str, Any]]:
    """A month of the synthetic school on a throw-away PostgreSQL database, and one uninterrupted
    `casework run` of it (the reference)."""
    folder = tmp_path_factory.mktemp("pg-month")
    base = Db.postgres(PG_ADMIN, f"casework_faults_{uuid.uuid4().hex[:8]}")
    made = [base]
    try:
        build_school(base, config, PUPILS, SEED, dt.date(2026, 10, 1))
        launcher = Exec(folder / "workers", fake_print=False)
        ref = target(base.copy("reference"), folder / "reference", None)
        made.append(ref.db)
        w = finish(launcher.start(run_args(MONTH), ref.env(), ref.cwd), "the reference run")

        def copy(name: str) -> Any:
            t = target(base.copy(name), folder / name, None)
            made.append(t.db)
            return t

        yield {"snapshot": snapshot(ref.db.url), "items": normalised_items(ref.db.url, Counter(w.items)),
               "copy": copy, "launcher": launcher}
    finally:
        for db in reversed(made):
            db.drop()


def _same(ref: dict[str, Any], url: str, items: Counter[str]) -> Figures:
    got = Outcome(snapshot(url), normalised_items(url, items), Counter(), Counter(), Counter(), [])
    return compare(Outcome(ref["snapshot"], ref["items"], Counter(), Counter(), Counter(), []), got, Figures())


def test_database_going_away_mid_run_is_one_clear_line_and_the_next_run_resumes(pg_month: dict[str, Any]
                                                                                 ) -> None:
    victim, launcher = pg_month["copy"]("lost"), pg_month["launcher"]
    when = random.Random(9).randint(20, sum(pg_month["items"].values()) // 2)
    admin = create_engine(victim.db.url, isolation_level="AUTOCOMMIT")
    w = launcher.start(run_args(MONTH), victim.env(), victim.cwd)
    terminated = 0
    try:
        for line in w:  # from the when-th item on, after every item, until the worker gives up
            if line.startswith("item ") and len(w.items) >= when:
                with admin.connect() as c:
                    terminated += c.execute(text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
    finally:
        admin.dispose()
    rc = w.wait()
    lines = [x for x in w.stderr.splitlines() if x.strip()]
    assert rc == 1 and terminated >= 1
    assert len(lines) == 1 and "Traceback" not in w.stderr, w.stderr
    assert "database connection was lost" in lines[0] and "run the command again to resume" in lines[0]
    first = Counter(w.items)
    resumed = finish(launcher.start(run_args(MONTH), victim.env(), victim.cwd), "the run after the outage")
    figures = _same(pg_month, victim.db.url, first + Counter(resumed.items))
    figures.kills["db"] += 1
    print(f"backends terminated {terminated} times after item {when}: {figures.summary()}")
    assert figures.differences == [] and figures.duplicates == 0 and figures.lost == 0
    assert due_pending(victim.db.url, utc(2026, 10, 1, 22)) == []


def test_two_workers_over_a_month_produce_exactly_what_one_does(pg_month: dict[str, Any]) -> None:
    shared, launcher = pg_month["copy"]("two"), pg_month["launcher"]
    workers = [launcher.start(run_args(MONTH), shared.env(), shared.cwd) for _ in range(2)]
    for i, w in enumerate(workers):
        finish(w, f"worker {i + 1}")
    split = [len(w.items) for w in workers]
    figures = _same(pg_month, shared.db.url, sum((Counter(w.items) for w in workers), Counter()))
    print(f"two workers: items {split} of {sum(pg_month['items'].values())}; {figures.summary()}")
    assert sum(split) == sum(pg_month["items"].values())  # every item once, by one worker or the other
    assert figures.differences == [] and figures.duplicates == 0 and figures.lost == 0
    assert min(split) >= 1, f"the workers did not overlap ({split}): nothing was shared"


# --- the SMTP relay and the SMS gateway down for a while --------------------------------------------------
NOW = utc(2026, 10, 5, 17)


def test_relay_and_gateway_down_then_back_every_letter_goes_once(app: App, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Retried with the configured backoff and reported while down; once both are back each letter (and each
    channel of the bulk message) reaches the parent exactly once; nothing is failed or lost."""
    from aiosmtpd.controller import Controller

    from notifications.deliver import default_transports, deliver_pending
    from notifications.outbox import outbox_rows
    from tests.integration.servers import SMS_KEY, free_port, sms_gateway
    from tests.integration.test_delivery import attempts, make_letter, pupil_with_marks

    monkeypatch.setenv("CASEWORK_TEST_SMS_KEY", SMS_KEY)
    port = free_port()  # nothing listens here yet: the relay is down
    received: list[bytes] = []

    class Relay:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.append(envelope.original_content)
            return "250 OK"

    with sms_gateway() as gw:
        gw.statuses = [503, 503]  # the gateway is down for the first two tries
        delivery = Delivery.model_validate({
            "print_queue_dir": str(tmp_path / "print-queue"),
            "smtp": {"host": "127.0.0.1", "port": port, "starttls": False, "timeout_seconds": 5},
            "sms": {"url": f"http://127.0.0.1:{gw.server_port}/send", "api_key_env": "CASEWORK_TEST_SMS_KEY",
                    "timeout_seconds": 5},
            "bulk_message_letters": ["punctuality_parentmail"], "retry": {"max_attempts": 5,
                                                                          "backoff_minutes": [5, 30]}})
        app._config = app.config.model_copy(update={"delivery": delivery})
        transports = default_transports(app)
        ids = [make_letter(app, pupil_with_marks(app), "concern_letter_1", "email") for _ in range(2)]
        ids.append(make_letter(app, pupil_with_marks(app, parents=1), "punctuality_parentmail", "email",
                               context={"lates": 3, "threshold": 3}))
        first = deliver_pending(app, NOW, transports)
        assert sorted(first.retrying) == sorted(ids) and first.failed == [] and first.sent == []
        assert "3 to retry" in first.summary()
        rows = {r["id"]: r for r in outbox_rows(app)}
        assert all(rows[i]["status"] == "pending" and rows[i]["last_outcome"] == "failed" and rows[i]["last_error"]
                   for i in ids)  # what `casework outbox` shows the office while the services are down
        assert deliver_pending(app, NOW + dt.timedelta(minutes=4), transports).attempts == 0  # backing off
        assert sorted(deliver_pending(app, NOW + dt.timedelta(minutes=5), transports).retrying) == sorted(ids)
        with app.sessions() as s:
            assert set(s.scalars(select(Letter.next_attempt_at).where(Letter.id.in_(ids)))) == {
                NOW + dt.timedelta(minutes=35)}  # the second backoff
        relay = Controller(Relay(), hostname="127.0.0.1", port=port)
        relay.start()  # both services are back
        try:
            back = deliver_pending(app, NOW + dt.timedelta(minutes=35), transports)
            later = deliver_pending(app, NOW + dt.timedelta(days=1), transports)
        finally:
            relay.stop()
    assert sorted(back.sent) == sorted(ids) and later.attempts == 0
    assert len(received) == 3  # two letters and the bulk message's email, once each
    assert [r["headers"]["Idempotency-Key"] for r in gw.requests] == [gw.requests[0]["headers"]["Idempotency-Key"]] * 3
    assert attempts(app, ids[2]) == [("email", 1, "failed"), ("email", 2, "failed"), ("email", 3, "sent"),
                                     ("sms", 1, "failed"), ("sms", 2, "failed"), ("sms", 3, "sent")]
    with app.sessions() as s:
        assert set(s.scalars(select(Letter.status).where(Letter.id.in_(ids)))) == {"sent"}
        assert not s.scalar(select(Timer.id).where(Timer.status == "failed"))
