"""What the web inbox's pages show, on SQLite and PostgreSQL: the inbox (overdue first, filters, the
three sections), the case page (state, history, timers pending), the leaders' dashboard (bands by year
group, PA and SA against a fortnight ago, tasks per role, letters this week) and the pupil page (charts,
chronology filter). Data is set up directly so the numbers on the page are known; time is the injected
clock of tests/web_support (never the wall clock).
"""
from __future__ import annotations

import datetime as dt
import html
import itertools
import re

import pytest
from sqlalchemy import select

from casework import meetings, tasks
from casework.context import App
from casework.models import AuditEntry, Letter, Pupil, Staff, Task
from tests.factories import add_pupil, fill
from tests.web_support import School, at, seed

_keys = itertools.count(1)


# --- helpers ------------------------------------------------------------------------------------------
def _staff_pk(app: App, staff_id: str) -> int:
    with app.sessions() as s:
        pk = s.scalar(select(Staff.id).where(Staff.staff_id == staff_id))
    assert pk is not None
    return pk


def add_task(school: School, *, pupil: Pupil, kind: str, role: str, due: dt.datetime, title: str,
             assignee: str | None = None, status: str = "open", completed_at: dt.datetime | None = None) -> int:
    """A task row as the engine would leave it (no case, no timers): enough for the pages' lists."""
    app = school.app
    assignee_pk = _staff_pk(app, assignee) if assignee else None
    with app.sessions.begin() as s:
        task = Task(key=f"test-page:{next(_keys)}", kind=kind, title=title, rule="TEST", pupil_id=pupil.id,
                    role=role, assignee_id=assignee_pk, status=status, due_at=due,
                    created_at=due - dt.timedelta(hours=4), completed_at=completed_at,
                    outcome="no_contact" if status == "done" else None,
                    completed_by=assignee if status == "done" else None, data={})
        s.add(task)
        s.flush()
        return task.id


def add_staff_member(school: School, key: str, staff_id: str, roles: list[str]) -> str:
    with school.app.sessions.begin() as s:
        s.add(Staff(staff_id=staff_id, name=f"Extra {staff_id}", email=f"{staff_id}@heys.example.org",
                    roles=roles, forms=[], year_groups=[]))
    school.staff[key] = staff_id
    return staff_id


def section(page: str, name: str) -> str:
    """The HTML of one inbox section (mine, queue, done)."""
    found = re.search(rf'<section id="{name}".*?</section>', page, re.S)
    assert found, f"no section {name} on the page"
    return found.group(0)


def ids(fragment: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-task="(\d+)"', fragment)]


def main_of(page: str) -> str:
    found = re.search(r"<main>.*</main>", page, re.S)
    assert found
    return found.group(0)


# --- 1. the inbox -------------------------------------------------------------------------------------
@pytest.fixture
def inbox_school(app: App) -> tuple[School, dict[str, int]]:
    """Monday 07 Sep 2026 10:30 (BST). The seed's first-day call (office queue, due 12:00) plus tasks
    around it: overdue and not, assigned to the office member (S001) or not, other roles, done."""
    school = seed(app)
    p, o, office = school.pupil, school.other, school.staff["office"]
    mon = school.clock.now.date()
    t = {
        "fdc": school.task_id,
        # the office queue (unassigned)
        "q_friday": add_task(school, pupil=o, kind="first_day_call", role="office",
                             due=at(app, mon - dt.timedelta(days=3), "12:00"), title="Queue overdue since Friday"),
        "q_nine": add_task(school, pupil=p, kind="second_call", role="office", due=at(app, mon, "09:00"),
                           title="Queue overdue since nine"),
        "q_tomorrow": add_task(school, pupil=o, kind="second_call", role="office",
                               due=at(app, mon + dt.timedelta(days=1), "12:00"), title="Queue due tomorrow"),
        # assigned to the office member
        "m_tomorrow": add_task(school, pupil=p, kind="request_medical_evidence", role="office",
                               due=at(app, mon + dt.timedelta(days=1), "09:00"), title="Mine due tomorrow",
                               assignee=office),
        "m_eight": add_task(school, pupil=o, kind="alert_attendance_lead", role="office",
                            due=at(app, mon, "08:00"), title="Mine overdue since eight", assignee=office),
        # done by the office member
        "d_done": add_task(school, pupil=p, kind="second_call", role="office", due=at(app, mon, "10:00"),
                           title="Mine done this morning", assignee=office, status="done",
                           completed_at=at(app, mon, "10:15")),
        # not the office member's: another role's queue, and an office task someone else holds
        "lead_q": add_task(school, pupil=p, kind="home_visit", role="attendance_lead",
                           due=at(app, mon, "07:00"), title="Lead queue home visit"),
        "held": add_task(school, pupil=p, kind="second_call", role="office", due=at(app, mon, "09:30"),
                         title="Held by the attendance lead", assignee=school.staff["attendance_lead"]),
    }
    return school, t


def test_inbox_sections_list_overdue_first(inbox_school: tuple[School, dict[str, int]]) -> None:
    school, t = inbox_school
    page = school.client("office").get("/")
    assert page.status_code == 200
    mine, queue, done = (section(page.text, n) for n in ("mine", "queue", "done"))
    assert ids(mine) == [t["m_eight"], t["m_tomorrow"]]
    assert ids(queue) == [t["q_friday"], t["q_nine"], t["fdc"], t["q_tomorrow"]]
    assert ids(done) == [t["d_done"]]
    # the headings the page defines, with the counts of the lists
    assert "My tasks (2)" in mine and "To claim: my roles' queue (4)" in queue and "Done by me" in done
    # titles in the same order, overdue ones tagged, claim buttons only in the queue
    titles = re.findall(r'<a href="/tasks/\d+">([^<]+)</a>', queue)
    assert titles == ["Queue overdue since Friday", "Queue overdue since nine", "First-day call to parents",
                      "Queue due tomorrow"]
    rows = re.findall(r'<tr class="(overdue|)" data-kind="[a-z_]+" data-task="(\d+)"', queue)
    assert [(int(i), c == "overdue") for c, i in rows] == [
        (t["q_friday"], True), (t["q_nine"], True), (t["fdc"], False), (t["q_tomorrow"], False)]
    assert queue.count("/claim") == 4 and "/claim" not in mine and "/claim" not in done
    everything = ids(mine) + ids(queue) + ids(done)
    assert t["lead_q"] not in everything and t["held"] not in everything
    # the attendance lead sees the task they hold as theirs and the home visit in their queue
    lead = school.client("attendance_lead").get("/").text
    assert ids(section(lead, "mine")) == [t["held"]] and ids(section(lead, "queue")) == [t["lead_q"]]


def test_inbox_overdue_passes_the_due_time_as_the_clock_moves(inbox_school: tuple[School, dict[str, int]]) -> None:
    school, t = inbox_school
    office = school.client("office")
    assert ids(section(office.get("/?overdue=1").text, "queue")) == [t["q_friday"], t["q_nine"]]
    school.clock.now = at(school.app, school.clock.now.date(), "12:01")  # the first-day call is due at 12:00
    assert ids(section(office.get("/?overdue=1").text, "queue")) == [t["q_friday"], t["q_nine"], t["fdc"]]


def test_inbox_filters_narrow_every_section(inbox_school: tuple[School, dict[str, int]]) -> None:
    school, t = inbox_school
    office = school.client("office")

    def lists(query: str) -> tuple[list[int], list[int], list[int]]:
        response = office.get("/" + query)
        assert response.status_code == 200
        return tuple(ids(section(response.text, n)) for n in ("mine", "queue", "done"))  # type: ignore[return-value]

    assert lists("?overdue=1") == ([t["m_eight"]], [t["q_friday"], t["q_nine"]], [])
    assert lists("?kind=second_call") == ([], [t["q_nine"], t["q_tomorrow"]], [t["d_done"]])
    assert lists("?kind=second_call&overdue=1") == ([], [t["q_nine"]], [])
    # the pupil filter takes a UPN in any case
    assert lists(f"?pupil={school.other.upn.lower()}") == ([t["m_eight"]], [t["q_friday"], t["q_tomorrow"]], [])
    assert lists(f"?pupil={school.pupil.upn}") == ([t["m_tomorrow"]], [t["q_nine"], t["fdc"]], [t["d_done"]])
    assert lists("?role=office") == lists("")
    # the form shows the filter it applied
    page = office.get("/?kind=second_call&overdue=1").text
    assert '<option value="second_call" selected>' in page and 'name="overdue" value="1" checked' in page
    # every kind of the viewer's roles is offered, and only those
    offered = set(re.findall(r'<option value="([a-z_]+)" ?(?:selected)?>', page.split('id="f-kind"')[1]
                             .split("</select>")[0]))
    office_kinds = {k for k, spec in school.app.config.tasks.items() if spec.role == "office"}
    assert office_kinds <= offered and "home_visit" not in offered


def test_inbox_role_filter_for_staff_with_two_roles(inbox_school: tuple[School, dict[str, int]]) -> None:
    school, t = inbox_school
    add_staff_member(school, "dual", "S900", ["office", "attendance_lead"])
    dual = school.client("dual")
    page = dual.get("/").text
    offered = page.split('id="f-role"')[1].split("</select>")[0]
    assert 'value="office"' in offered and 'value="attendance_lead"' in offered
    # both roles' queues, merged and overdue first (the home visit was due at 07:00, before everything but Friday)
    assert ids(section(page, "queue")) == [t["q_friday"], t["lead_q"], t["q_nine"], t["fdc"], t["q_tomorrow"]]
    assert ids(section(dual.get("/?role=attendance_lead").text, "queue")) == [t["lead_q"]]
    assert ids(section(dual.get("/?role=office").text, "queue")) == [t["q_friday"], t["q_nine"], t["fdc"],
                                                                      t["q_tomorrow"]]
    # a role the viewer does not hold shows nothing rather than somebody else's queue
    assert ids(section(dual.get("/?role=headteacher").text, "queue")) == []


def test_inbox_of_a_form_tutor_is_limited_to_their_form(inbox_school: tuple[School, dict[str, int]]) -> None:
    school, _ = inbox_school
    mine = add_task(school, pupil=school.pupil, kind="inform_no_reason", role="form_tutor",
                    due=at(school.app, school.clock.now.date(), "15:00"), title="Tutor task for 7H")
    other = add_task(school, pupil=school.other, kind="inform_no_reason", role="form_tutor",
                     due=at(school.app, school.clock.now.date(), "14:00"), title="Tutor task for 8K")
    page = school.client("form_tutor").get("/").text
    assert ids(section(page, "queue")) == [mine] and "Tutor task for 8K" not in page and other not in ids(page)


def test_done_by_me_lists_the_tasks_i_completed(app: App) -> None:
    school = seed(app)
    add_staff_member(school, "office2", "S901", ["office"])
    tasks.claim(app, school.task_id, "S901", school.clock.now)  # a colleague holds the call...
    tasks.complete(app, school.task_id, "no_contact", by=school.staff["office"], at=school.clock.now)  # ...I make it
    assert school.task_id in ids(section(school.client("office").get("/").text, "done"))
    assert school.task_id not in ids(section(school.client("office2").get("/").text, "done"))


# --- 2. the case page ---------------------------------------------------------------------------------
def test_case_page_shows_state_history_and_pending_timers(app: App) -> None:
    school = seed(app)
    office = school.client("office")
    page = office.get(f"/cases/{school.case_id}")
    assert page.status_code == 200
    body = main_of(page.text)
    assert '<span id="case-state">calling</span>' in body and "first day case" in body
    timers = re.search(r"<h2[^>]*>Timers pending</h2>(.*?)</section>", body, re.S)
    assert timers is not None
    assert re.findall(r"<p>([^<]+)</p>", timers.group(1)) == [
        "task reminder: Mon 07 Sep 2026 12:00", "task expiry: Mon 07 Sep 2026 16:00",
        "second day check: Tue 08 Sep 2026 08:55"]
    history = body.split("<h2>History</h2>")[1]
    assert html.escape("first_day: new -> calling (open): no reason given at register close") in history
    assert "FDR-1" in history and "2026-09-07 10:00" in history
    assert f'<a href="/tasks/{school.task_id}">First-day call to parents</a>' in body
    # the meeting case of the same pupil is not part of this case's history
    assert "Meeting arranged" not in history
    with app.sessions() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "view_case")).all()
    assert [(a.staff, a.detail) for a in audit] == [(school.staff["office"], f"case {school.case_id}")]


def test_case_page_follows_a_transition(app: App) -> None:
    school = seed(app)
    school.clock.now = at(app, school.clock.now.date(), "11:00")
    tasks.complete(app, school.task_id, "no_contact", by=school.staff["office"], at=school.clock.now)
    body = main_of(school.client("office").get(f"/cases/{school.case_id}").text)
    history = body.split("<h2>History</h2>")[1]
    assert "Task first_day_call completed: no_contact" in history and "2026-09-07 11:00" in history
    timers = re.search(r"<h2[^>]*>Timers pending</h2>(.*?)</section>", body, re.S)
    assert timers is not None
    # the call's reminder and expiry are dropped with the task; the second-day check still waits
    assert "task reminder: Mon 07 Sep 2026 12:00" not in timers.group(1)
    assert "second day check: Tue 08 Sep 2026 08:55" in timers.group(1)
    assert re.search(r"First-day call to parents</a> <span[^>]*>office, due Mon 07 Sep 12:00: done \(no contact\)",
                     body)


def test_case_page_of_another_form_is_refused_to_a_form_tutor(app: App) -> None:
    school = seed(app)
    other_case = meetings.arrange(app, upn=school.other.upn, when=at(app, dt.date(2026, 9, 10), "16:00"),
                                  attendees=["parent"], purpose="8K", by=school.staff["attendance_lead"],
                                  now=school.clock.now)
    tutor = school.client("form_tutor")
    assert tutor.get(f"/cases/{school.case_id}").status_code == 200  # their form's pupil
    refused = tutor.get(f"/cases/{other_case.id}")
    assert refused.status_code == 403 and school.other.name not in refused.text
    assert school.client("office").get(f"/cases/{other_case.id}").status_code == 200
    assert school.client("office").get("/cases/999999").status_code == 404


# --- 3. the dashboard ---------------------------------------------------------------------------------
D = dt.date(2026, 10, 5)  # a Monday, the 23rd school day; a fortnight earlier (21 Sep) is the 13th


@pytest.fixture
def dash_school(app: App) -> School:
    """Known marks to Monday 5 Oct 2026 (23 school days, 46 sessions; 26 sessions to 21 Sep)."""
    school = seed(app, D)  # the seed pupils have marks only on D: fill the days before
    days = [d for d in app.calendar.days if d <= D]
    assert len(days) == 23 and days[12] == D - dt.timedelta(days=14)
    before = days[:-1]
    fill(app, school.pupil, before)  # + N on D: 44/46, stage 2; a fortnight ago 100%
    fill(app, school.other, before)  # + / on D: 100%, stage 1
    specs = [  # (form, year, indices absent (unauthorised, both sessions))
        ("7H", 7, range(17, 22)),  # 36/46 = 78.3%: stage 5, PA; a fortnight ago 100%
        ("8K", 8, range(0, 23)),  # 0%: PA and SA now and then
        ("8K", 8, range(20, 22)),  # 42/46 = 91.3%: stage 3; a fortnight ago 100%
        ("8K", 8, range(7, 23)),  # 14/46 = 30.4%: PA, SA; a fortnight ago 14/26 = 53.8%: PA, not SA
    ]
    for form, year, absent in specs:
        fill(app, add_pupil(app, form=form, year=year), days, absent={i: "O" for i in absent})
    gone = add_pupil(app, form="7H", year=7)  # off roll: not counted anywhere
    fill(app, gone, days, absent={i: "O" for i in range(23)})
    with app.sessions.begin() as s:
        s.get(Pupil, gone.id).on_roll = False  # type: ignore[union-attr]
    return school


def _row(body: str, first_cell: str) -> list[str]:
    found = re.search(rf"<tr><td>{re.escape(first_cell)}</td>(.*?)</tr>", body, re.S)
    assert found, f"no row {first_cell!r}"
    return re.findall(r"<td>([^<]*)</td>", found.group(1))


def test_dashboard_bands_by_year_and_pa_sa_against_a_fortnight_ago(dash_school: School) -> None:
    school = dash_school
    page = school.client("headteacher").get("/dashboard")
    assert page.status_code == 200
    body = main_of(page.text)
    assert "to 2026-10-05" in body
    assert '<b id="pa-now">3</b>' in body and "a fortnight ago 2 (+1)" in body
    assert '<b id="sa-now">2</b>' in body and "a fortnight ago 1 (+1)" in body
    # columns: stage 1, monitor, stage 2, stage 3, stage 4, stage 5, too early
    assert _row(body, "Year 7") == ["0", "0", "1", "0", "0", "1", "0"]
    assert _row(body, "Year 8") == ["1", "0", "0", "1", "0", "2", "0"]
    assert "<svg" in body and 'aria-label="Pupils per band by year group"' in body


def test_dashboard_tasks_per_role_and_letters_this_week(dash_school: School) -> None:
    school, app = dash_school, dash_school.app
    now = school.clock.now  # Monday 5 Oct 10:30
    with app.sessions() as s:
        seeded = [(t.kind, t.role) for t in s.scalars(select(Task).where(Task.status == "open"))]
    assert seeded == [("first_day_call", "office")]  # due 12:00: not overdue yet
    p = school.pupil
    add_task(school, pupil=p, kind="second_call", role="office", due=now - dt.timedelta(minutes=1), title="o1")
    for due in (now - dt.timedelta(days=2), now - dt.timedelta(hours=1), now + dt.timedelta(days=1)):
        add_task(school, pupil=p, kind="home_visit", role="attendance_lead", due=due, title="al")
    add_task(school, pupil=p, kind="home_visit", role="attendance_lead", due=now - dt.timedelta(days=3),
             title="al done", assignee=school.staff["attendance_lead"], status="done", completed_at=now)
    add_task(school, pupil=p, kind="inform_no_reason", role="form_tutor", due=now + dt.timedelta(hours=3), title="t")

    monday = D
    letters = [  # (template, status, created local): the week starts at midnight on Monday, local time
        ("concern_letter_1", "sent", at(app, monday, "00:30")),  # 23:30 UTC on Sunday: this week all the same
        ("final_warning", "sent", at(app, monday, "08:00")),
        ("final_warning", "sent", at(app, monday, "09:00")),
        ("final_warning", "sent", at(app, monday - dt.timedelta(days=1), "23:30")),  # Sunday: last week
        ("concern_letter_2", "sent", at(app, monday - dt.timedelta(days=3), "16:00")),  # last Friday
    ]
    with app.sessions.begin() as s:
        for n, (template, status, created) in enumerate(letters):
            s.add(Letter(key=f"dash:{n}", template=template, rule="TEST", pupil_id=p.id, recipient="Parent 1",
                         channel="post", address="1 High St", created_at=created, status=status,
                         sent_at=created + dt.timedelta(minutes=5), context={}))

    body = main_of(school.client("attendance_lead").get("/dashboard").text)
    roles = app.config.roles
    per_role = body.split("Open and overdue tasks per role")[1].split("</table>")[0]
    assert _row(per_role, html.escape(roles["attendance_lead"].name)) == ["3", "2"]
    assert _row(per_role, html.escape(roles["office"].name)) == ["2", "1"]
    assert _row(per_role, html.escape(roles["form_tutor"].name)) == ["1", "0"]
    assert len(re.findall(r"<tr><td>", per_role)) == 3
    week = body.split("Letters this week")[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", week)
    # the seed's concern letter 1 (pending, created at 10:30) and the three of this week
    assert rows == [("concern letter 1", "pending", "1"), ("concern letter 1", "sent", "1"),
                    ("final warning", "sent", "2")]
    # an hour on, the first-day call (due 12:00) is overdue too
    school.clock.now = now + dt.timedelta(hours=2)
    later = main_of(school.client("attendance_lead").get("/dashboard").text)
    assert _row(later.split("Open and overdue tasks per role")[1], html.escape(roles["office"].name)) == ["2", "2"]


def test_dashboard_letters_sent_this_week_go_by_the_sending_date(dash_school: School) -> None:
    app = dash_school.app
    with app.sessions.begin() as s:
        s.add(Letter(key="dash:late", template="final_warning", rule="TEST", pupil_id=dash_school.pupil.id,
                     recipient="Parent 1", channel="post", address="1 High St",
                     created_at=at(app, D - dt.timedelta(days=3), "16:00"), status="sent",
                     sent_at=at(app, D, "07:00"), context={}))
    body = main_of(dash_school.client("headteacher").get("/dashboard").text)
    week = body.split("Letters this week")[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", week)
    assert ("final warning", "sent", "1") in rows


@pytest.mark.parametrize("role", ["form_tutor", "office", "pastoral_manager"])
def test_dashboard_is_refused_to_staff_who_are_not_leaders(app: App, role: str) -> None:
    school = seed(app)
    page = school.client(role).get("/dashboard")
    assert page.status_code == 403
    assert "Pupils per band" not in page.text
    api = school.client().get("/api/dashboard", headers=school.bearer(role))
    assert api.status_code == 403
    assert school.client("senior_leader").get("/dashboard").status_code == 200


# --- 4. the pupil page --------------------------------------------------------------------------------
def test_pupil_page_has_the_charts_and_the_chronology_filter_narrows(app: App) -> None:
    school = seed(app, with_history=True)
    client = school.client("attendance_lead")
    page = client.get(f"/pupils/{school.pupil.upn}")
    assert page.status_code == 200
    body = main_of(page.text)
    svgs = re.findall(r'<svg[^>]*aria-label="([^"]+)"', body)
    assert svgs == ["Attendance week by week with the band lines", "Calendar of the year's marks"]
    assert body.count("</svg>") >= 2

    def entries(text: str) -> list[tuple[str, str]]:
        table = text.split('<table id="chronology-table">')[1].split("</table>")[0]
        return re.findall(r"<tr><td class=\"small\">[^<]*</td><td>([a-z ]+)[^<]*(?:<span[^>]*>[^<]*</span>)?</td>\s*"
                          r"<td>([^<]*)", table)

    everything = entries(body)
    categories = {c for c, _ in everything}
    assert {"case", "task", "meeting"} <= categories
    offered = re.findall(r'<option value="([a-z_]+)"', body.split('id="category"')[1].split("</select>")[0])
    assert set(offered) >= {"case", "task", "meeting"}
    only_meetings = entries(main_of(client.get(f"/pupils/{school.pupil.upn}?category=meeting").text))
    assert only_meetings and {c for c, _ in only_meetings} == {"meeting"}
    assert len(only_meetings) == sum(1 for c, _ in everything if c == "meeting") < len(everything)
    assert any(s.startswith("Meeting arranged for Thursday 10 September 2026") for _, s in only_meetings)
    tasks_only = entries(main_of(client.get(f"/pupils/{school.pupil.upn}?category=task").text))
    assert tasks_only and {c for c, _ in tasks_only} == {"task"}
    assert '<option value="task" selected>' in client.get(f"/pupils/{school.pupil.upn}?category=task").text
    with app.sessions() as s:
        details = [a.detail for a in s.scalars(select(AuditEntry).where(AuditEntry.action == "view_pupil")
                                               .order_by(AuditEntry.id))]
    assert details == [None, "category=meeting", "category=task", "category=task"]
