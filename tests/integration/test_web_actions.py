"""The web inbox's actions on SQLite and PostgreSQL: sign-in, lockout, CSRF, forms and API calls that
complete, claim and reassign tasks, arrange and record meetings, and the audit of every view.

The clock is injected (tests/web_support.Clock): Monday 2026-09-07, 10:30, after the first-day call opened.
"""
from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from casework import tasks
from casework.cli import main
from casework.context import App
from casework.models import AuditEntry, ChronologyEntry, Mark, Staff, Task
from casework.web import auth
from casework.web.guard import FORM_COOKIE, SESSION_COOKIE
from tests.web_support import FAST, PASSWORD, School, form_token, seed


@pytest.fixture
def school(app: App) -> School:
    return seed(app)


def _open(app: App, pupil_id: int) -> dict[str, Task]:
    with app.sessions() as s:
        return {t.kind: t for t in s.scalars(select(Task).where(Task.pupil_id == pupil_id, Task.status == "open"))}


def _audit(app: App, **where: object) -> list[AuditEntry]:
    with app.sessions() as s:
        q = select(AuditEntry).order_by(AuditEntry.id)
        for k, v in where.items():
            q = q.where(getattr(AuditEntry, k) == v)
        return list(s.scalars(q))


def _sign_in(school: School, login: str, password: str, **kw: object):  # type: ignore[no-untyped-def]
    client = school.client(**kw)  # type: ignore[arg-type]
    token = form_token(client.get("/sign-in").text)
    return client, client.post("/sign-in", data={"login": login, "password": password, "csrf_token": token})


# --- signing in ---------------------------------------------------------------------------------------
def test_sign_in_sets_an_httponly_samesite_cookie_and_sign_out_ends_the_session(school: School) -> None:
    auth.set_password(school.app, school.staff["office"], PASSWORD, FAST, school.clock.now)
    client, response = _sign_in(school, school.staff["office"], PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    token = client.cookies[SESSION_COOKIE]
    assert client.get("/").status_code == 200
    out = client.post("/sign-out", data={"csrf_token": auth.csrf_for(token)})
    assert out.status_code == 303
    stale = school.client()
    stale.cookies.set(SESSION_COOKIE, token)
    assert stale.get("/").status_code == 303  # the old cookie no longer signs anyone in
    assert [a.action for a in _audit(school.app, staff=school.staff["office"])][-2:] == ["sign_in", "sign_out"]


def test_sign_in_over_https_sets_a_secure_cookie(school: School) -> None:
    auth.set_password(school.app, school.staff["office"], PASSWORD, FAST, school.clock.now)
    _, response = _sign_in(school, school.staff["office"], PASSWORD, base_url="https://testserver")
    assert "Secure" in response.headers["set-cookie"]


def test_lockout_after_repeated_failures_then_open_again_later(school: School) -> None:
    sid = school.staff["office"]
    auth.set_password(school.app, sid, PASSWORD, FAST, school.clock.now)
    for _ in range(FAST.lockout_after):
        assert _sign_in(school, sid, "not the password")[1].status_code == 400
    locked = _sign_in(school, sid, PASSWORD)[1]
    assert locked.status_code == 400 and "locked until" in locked.text
    school.clock.now += dt.timedelta(minutes=FAST.lockout_minutes, seconds=1)
    assert _sign_in(school, sid, PASSWORD)[1].status_code == 303
    actions = [a.action for a in _audit(school.app, staff=sid)]
    assert actions.count("sign_in_failed") == FAST.lockout_after and "sign_in_locked" in actions


def test_api_sign_in_gives_a_bearer_token_and_wrong_passwords_get_401(school: School) -> None:
    auth.set_password(school.app, school.staff["headteacher"], PASSWORD, FAST, school.clock.now)
    client = school.client()
    bad = client.post("/api/session", json={"staff_id": school.staff["headteacher"], "password": "nope nope"})
    assert bad.status_code == 401
    good = client.post("/api/session", json={"staff_id": school.staff["headteacher"], "password": PASSWORD})
    token = good.json()["token"]
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["roles"] == ["headteacher"] and me["scope"] == "all pupils"
    assert client.delete("/api/session", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_invite_link_sets_the_password_once_and_expires(school: School) -> None:
    sid = school.staff["form_tutor"]
    token = auth.invite(school.app, sid, FAST, school.clock.now)
    client = school.client()
    page = client.get(f"/set-password?token={token}")
    assert page.status_code == 200 and "Form Tutor" in page.text
    data = {"token": token, "password": PASSWORD, "password2": PASSWORD, "csrf_token": form_token(page.text)}
    assert client.post("/set-password", data=data).status_code == 303
    assert client.post("/set-password", data=data).status_code == 400  # once only
    assert _sign_in(school, sid, PASSWORD)[1].status_code == 303
    late = auth.invite(school.app, sid, FAST, school.clock.now)
    school.clock.now += dt.timedelta(hours=FAST.invite_hours, seconds=1)
    assert client.get(f"/set-password?token={late}").status_code == 400
    with school.app.sessions() as s:
        stored = s.scalar(select(Staff.password_hash).where(Staff.staff_id == sid))
    assert stored is not None and stored.startswith("$argon2")


# --- CSRF ---------------------------------------------------------------------------------------------
def test_forms_without_a_csrf_token_are_refused(school: School) -> None:
    office = school.client("office")
    url = f"/tasks/{school.task_id}/complete"
    assert office.post(url, data={"outcome": "no_contact"}).status_code == 403
    assert office.post(url, data={"outcome": "no_contact", "csrf_token": "forged"}).status_code == 403
    assert "first_day_call" in _open(school.app, school.pupil.id)  # nothing happened
    assert all("CSRF" in (a.detail or "") for a in _audit(school.app, action="refused"))
    anonymous = school.client()
    anonymous.cookies.set(FORM_COOKIE, "one value")
    signin = anonymous.post("/sign-in", data={"login": "x", "password": "y", "csrf_token": "another value"})
    assert signin.status_code == 403


def test_api_with_a_cookie_session_needs_the_csrf_header(school: School) -> None:
    office = school.client("office")
    url = f"/api/tasks/{school.task_id}/claim"
    assert office.post(url).status_code == 403
    assert office.post(url, headers={"X-CSRF-Token": school.csrf("office")}).status_code == 200


# --- tasks --------------------------------------------------------------------------------------------
def test_fdr2_no_contact_by_form_then_the_second_call_is_in_the_inbox(school: School) -> None:
    office = school.client("office")
    page = office.get(f"/tasks/{school.task_id}")
    assert page.status_code == 200 and 'value="no_contact"' in page.text
    done = office.post(f"/tasks/{school.task_id}/complete",
                       data={"outcome": "no_contact", "note": "rang twice", "csrf_token": form_token(page.text)})
    assert done.status_code == 303
    inbox = office.get(done.headers["location"]).text
    assert "Task done." in inbox and 'data-kind="second_call"' in inbox
    with school.app.sessions() as s:
        task = s.get(Task, school.task_id)
    assert task is not None and task.completed_by == school.staff["office"] and task.note == "rang twice"


def test_a_wrong_outcome_is_refused_with_the_allowed_ones(school: School) -> None:
    office = school.client("office")
    response = office.post(f"/tasks/{school.task_id}/complete",
                           data={"outcome": "gone_fishing", "csrf_token": school.csrf("office")})
    assert response.status_code == 400 and "reached" in response.text and "no_contact" in response.text


def test_claim_and_reassign_with_a_reason_by_form_and_api(school: School) -> None:
    office = school.client("office")
    claimed = office.post(f"/tasks/{school.task_id}/claim", data={"csrf_token": school.csrf("office")})
    assert claimed.status_code == 303
    mine = office.get("/").text
    assert mine.index(f'data-task="{school.task_id}"') < mine.index('id="queue"')  # now in "my tasks"
    api = school.client()
    no_reason = api.post(f"/api/tasks/{school.task_id}/reassign", headers=school.bearer("office"),
                         json={"to": school.staff["attendance_lead"], "reason": " "})
    assert no_reason.status_code == 400
    moved = api.post(f"/api/tasks/{school.task_id}/reassign", headers=school.bearer("office"),
                     json={"to": school.staff["attendance_lead"], "reason": "office short-staffed"})
    assert moved.status_code == 200
    lead_tasks = api.get("/api/tasks", headers=school.bearer("attendance_lead")).json()
    assert any(t["id"] == school.task_id and t["assignee"] == school.staff["attendance_lead"] for t in lead_tasks)


def test_reassigning_someone_elses_task_is_refused_and_audited(school: School) -> None:
    tutor = school.client("form_tutor")
    response = tutor.post(f"/tasks/{school.task_id}/reassign",
                          data={"to": school.staff["form_tutor"], "reason": "mine now",
                                "csrf_token": school.csrf("form_tutor")})
    assert response.status_code == 403
    assert _audit(school.app, action="refused", staff=school.staff["form_tutor"])[0].pupil_id == school.pupil.id


def test_abs1_only_the_headteacher_authorises_an_absence_through_the_api(school: School) -> None:
    tasks.complete(school.app, school.task_id, "reached", reason="illness", by=school.staff["office"],
                   at=school.clock.now)
    authorise = _open(school.app, school.pupil.id)["authorise_absence"]
    api = school.client()
    url = f"/api/tasks/{authorise.id}/complete"
    for role in ("office", "senior_leader", "attendance_lead"):
        refused = api.post(url, headers=school.bearer(role), json={"outcome": "authorised"})
        assert refused.status_code == 403 and "ABS-1" in refused.json()["detail"]
    assert len(_audit(school.app, action="refused", pupil_id=school.pupil.id)) == 3
    ok = api.post(url, headers=school.bearer("headteacher"), json={"outcome": "authorised"})
    assert ok.status_code == 200
    with school.app.sessions() as s:
        codes = set(s.scalars(select(Mark.code).where(Mark.pupil_id == school.pupil.id)))
        refusals = s.scalars(select(ChronologyEntry).where(ChronologyEntry.category == "refused")).all()
    assert codes == {"I"} and len(refusals) == 3


def test_abs1_a_reason_recorded_on_the_pupil_page_waits_for_the_headteacher(school: School) -> None:
    pytest.importorskip("casework.absence")
    api = school.client()
    other_day = dt.date(2026, 9, 8)
    response = api.post(f"/api/pupils/{school.pupil.upn}/absence-reason", headers=school.bearer("office"),
                        json={"reason": "illness", "from": other_day.isoformat()})
    assert response.status_code == 200, response.text
    assert any(t.kind == "authorise_absence" for t in _open(school.app, school.pupil.id).values())
    tutor = api.post(f"/api/pupils/{school.pupil.upn}/absence-reason", headers=school.bearer("form_tutor"),
                     json={"reason": "illness", "from": other_day.isoformat()})
    assert tutor.status_code == 403


def test_pn3_penalty_payment_checks_the_notice_and_the_amount_due(school: School) -> None:
    api = school.client()
    missing = api.post(f"/api/pupils/{school.pupil.upn}/penalty-payment", headers=school.bearer("office"),
                       json={"notice": 99, "amount": 60, "paid_on": "2026-10-01"})
    assert missing.status_code == 400 and "no penalty notice 99" in missing.text
    tutor = api.post(f"/api/pupils/{school.pupil.upn}/penalty-payment", headers=school.bearer("form_tutor"),
                     json={"notice": 99, "amount": 60, "paid_on": "2026-10-01"})
    assert tutor.status_code == 403


# --- meetings -----------------------------------------------------------------------------------------
def test_mtg1_arrange_and_record_a_meeting_by_form(school: School) -> None:
    pm = school.client("pastoral_manager")
    page = pm.get("/meetings")
    assert page.status_code == 200 and school.pupil.upn in page.text
    token = form_token(page.text)
    arranged = pm.post("/meetings", data={"pupil": school.pupil.upn, "at": "2026-09-11T09:00",
                                          "attendees": "mother, PM", "purpose": "attendance", "csrf_token": token})
    assert arranged.status_code == 303
    meetings = school.client().get("/api/meetings", headers=school.bearer("pastoral_manager")).json()["meetings"]
    new = next(m for m in meetings if m["purpose"] == "attendance")
    assert new["attendees"] == ["mother", "PM"] and new["state"] == "arranged"
    recorded = pm.post(f"/meetings/{new['id']}/record", data={"outcome": "held", "csrf_token": token})
    assert recorded.status_code == 303
    far = pm.post("/meetings", data={"pupil": school.pupil.upn, "at": "2031-01-01T09:00", "csrf_token": token})
    assert far.status_code == 400
    assert pm.post("/meetings", data={"pupil": school.other.upn, "at": "2026-09-11T09:00",
                                      "csrf_token": token}).status_code == 403  # year 8 is not theirs


# --- audit (DAT-2) --------------------------------------------------------------------------------------
def test_dat2_every_view_of_a_pupil_case_or_chronology_is_audited(school: School) -> None:
    lead = school.client("attendance_lead")
    assert lead.get(f"/pupils/{school.pupil.upn}?category=task").status_code == 200
    assert lead.get(f"/cases/{school.case_id}").status_code == 200
    api = school.client()
    assert api.get(f"/api/pupils/{school.pupil.upn}/chronology", headers=school.bearer("attendance_lead")).json()
    assert api.get(f"/api/cases/{school.case_id}", headers=school.bearer("attendance_lead")).status_code == 200
    assert lead.get(f"/letters/{school.letter_id}.pdf").content.startswith(b"%PDF")
    actions = [a.action for a in _audit(school.app, staff=school.staff["attendance_lead"], pupil_id=school.pupil.id)]
    assert actions == ["view_pupil", "view_case", "chronology:api", "view_case:api", "view_letter"]


def test_casework_audit_lists_entries_read_only_and_staff_set_password_from_stdin(school: School) -> None:
    runner = CliRunner()
    base = ["--db", school.app.url, "--config", school.app.config.source or "config.yaml"]
    sid = school.staff["headteacher"]
    result = runner.invoke(main, [*base, "staff", "set-password", sid, "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    short = runner.invoke(main, [*base, "staff", "set-password", sid, "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "at least" in short.output
    link = runner.invoke(main, [*base, "staff", "invite", sid, "--base-url", "https://casework.example"])
    assert link.exit_code == 0 and link.output.startswith("https://casework.example/set-password?token=")
    school.client("form_tutor").get(f"/pupils/{school.other.upn}")
    listed = runner.invoke(main, [*base, "audit", "--pupil", school.other.upn, "--json"])
    assert listed.exit_code == 0, listed.output
    assert '"action": "refused"' in listed.output and school.staff["form_tutor"] in listed.output
    by_staff = runner.invoke(main, [*base, "audit", "--staff", sid])
    assert "password_set" in by_staff.output and "invite" in by_staff.output


def test_a_session_expires_after_its_hours_and_the_api_token_with_it(school: School) -> None:
    client = school.client("office")
    api = school.client()
    assert client.get("/").status_code == 200 and api.get("/api/tasks", headers=school.bearer("office")).is_success
    school.clock.now += dt.timedelta(hours=FAST.session_hours, seconds=1)
    assert client.get("/").status_code == 303  # back to the sign-in page
    assert api.get("/api/tasks", headers=school.bearer("office")).status_code == 401


def test_dat2_the_audit_log_cannot_be_changed_through_any_route_or_command(school: School) -> None:
    """The audit is written only by the server itself: no route takes anything but GET under /audit or
    /api/audit, and no command but `casework audit` (which only lists) touches it."""
    from casework.web import create_app

    web = create_app(school.app, clock=school.clock, settings=FAST)
    writes = [(r.path, sorted(r.methods - {"GET", "HEAD"})) for r in web.routes
              if "audit" in getattr(r, "path", "") and set(getattr(r, "methods", set())) - {"GET", "HEAD"}]
    assert writes == []
    import click

    audit_cmd = main.commands["audit"]
    assert not isinstance(audit_cmd, click.Group)  # one listing, no subcommands
    assert {p.name for p in audit_cmd.params} == {"upn", "staff_id", "as_json"}, \
        "casework audit only filters what it lists"
    before = len(_audit(school.app))
    runner = CliRunner()
    base = ["--db", school.app.url, "--config", school.app.config.source or "config.yaml"]
    for args in (["audit", "--delete"], ["audit", "--edit", "1"], ["audit", "purge"]):
        assert runner.invoke(main, [*base, *args]).exit_code == 2
    assert len(_audit(school.app)) == before
