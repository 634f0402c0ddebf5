"""The web inbox in a real browser: Debian's Chromium driven by Playwright (never a downloaded browser).

uvicorn serves the app in a thread on a free 127.0.0.1 port, over a SQLite school seeded with half a
term of marks; the app's clock is injected (Monday 12 October 2026, 10:30), and the tests never sleep:
Playwright's own waits poll the page. Screenshots of the inbox, a pupil page and the dashboard are saved
under artifacts/ (git-ignored). Without /usr/bin/chromium the tests skip, except under CI=true.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from casework import tasks
from casework.config import Config
from casework.context import App
from casework.models import AuditEntry, Mark
from casework.web import auth
from tests.web_support import FAST, PASSWORD, School, seed

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DAY = dt.date(2026, 10, 12)


def _need_browser() -> None:
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is missing (pip install -e '.[dev]')"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run under CI=true: {missing}")
        pytest.skip(missing)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def school(tmp_path: Path, config: Config) -> School:
    app = App(db_url=f"sqlite:///{tmp_path / 'casework.db'}", _config=config)
    app.init()
    school = seed(app, DAY, with_history=True)
    for role in ("office", "form_tutor", "headteacher"):
        auth.set_password(app, school.staff[role], PASSWORD, FAST, school.clock.now)
    return school


@pytest.fixture
def base_url(school: School) -> Iterator[str]:
    """uvicorn in a thread. The socket is bound and listening before the thread starts, so the first
    request simply waits in the backlog until uvicorn accepts it: no polling for readiness."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(school.web, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1024, "height": 768})  # a tablet, landscape
    p = context.new_page()
    p.set_default_timeout(20_000)
    yield p
    context.close()


def sign_in(page: Any, base_url: str, staff_id: str) -> None:
    from playwright.sync_api import expect

    page.goto(base_url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # sent to sign in first
    page.get_by_label("Staff id or email").fill(staff_id)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    assert (ARTIFACTS / name).stat().st_size > 10_000


def test_fdr2_office_completes_first_day_call_no_contact_and_sees_the_second_call(
        page: Any, base_url: str, school: School) -> None:
    from playwright.sync_api import expect

    sign_in(page, base_url, school.staff["office"])
    call = page.locator(f'tr[data-task="{school.task_id}"]')
    expect(call).to_contain_text("First-day call to parents")
    call.get_by_role("link", name="First-day call to parents").click()
    expect(page.get_by_role("heading", name="First-day call to parents")).to_be_visible()
    page.get_by_label("no contact").check()
    page.get_by_label("Note").fill("Rang both parents, no answer")
    page.get_by_role("button", name="Save outcome").click()
    expect(page.get_by_role("status")).to_have_text("Task done.")
    second = page.locator('#queue tr[data-kind="second_call"]')
    expect(second).to_contain_text(school.pupil.name)
    expect(second).to_contain_text("16:00")  # FDR-2: due the same day at 16:00
    expect(page.locator(f'#queue tr[data-task="{school.task_id}"]')).to_have_count(0)
    shot(page, "inbox.png")


def test_dat2_form_tutor_is_refused_another_forms_pupil_and_the_attempt_is_audited(
        page: Any, base_url: str, school: School) -> None:
    from playwright.sync_api import expect

    sign_in(page, base_url, school.staff["form_tutor"])
    response = page.goto(f"{base_url}/pupils/{school.other.upn}")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("outside")
    with school.app.sessions() as s:
        refused = s.scalars(select(AuditEntry).where(AuditEntry.action == "refused",
                                                     AuditEntry.pupil_id == school.other.id)).all()
    assert [a.staff for a in refused] == [school.staff["form_tutor"]]
    # their own form's pupil: figures, charts, chronology (the pupil page screenshot)
    page.goto(f"{base_url}/pupils/{school.pupil.upn}")
    expect(page.get_by_role("heading", name=school.pupil.name)).to_be_visible()
    expect(page.get_by_role("img", name="Attendance week by week with the band lines")).to_be_visible()
    expect(page.get_by_role("img", name="Calendar of the year's marks")).to_be_visible()
    expect(page.locator("#chronology-table")).to_contain_text("first_day")
    page.get_by_label("Category").select_option("case")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#chronology-table tbody tr").first).to_contain_text("case")
    shot(page, "pupil.png")


def test_abs1_headteacher_authorises_an_absence_in_the_browser(page: Any, base_url: str, school: School) -> None:
    from playwright.sync_api import expect

    tasks.complete(school.app, school.task_id, "reached", reason="illness", by=school.staff["office"],
                   at=school.clock.now)
    sign_in(page, base_url, school.staff["headteacher"])
    decision = page.locator('#queue tr[data-kind="authorise_absence"]')
    decision.get_by_role("link", name="Decide whether to authorise the absence").click()
    expect(page.get_by_text("Proposed code")).to_contain_text("I")
    page.get_by_label("authorised", exact=True).check()
    page.get_by_role("button", name="Save outcome").click()
    expect(page.get_by_role("status")).to_have_text("Task done.")
    expect(page.locator('#done tr[data-kind="authorise_absence"]')).to_contain_text("authorised")
    with school.app.sessions() as s:
        codes = set(s.scalars(select(Mark.code).where(Mark.pupil_id == school.pupil.id, Mark.date == DAY)))
    assert codes == {"I"}  # ABS-1: authorised by the headteacher, the marks change
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_role("img", name="Pupils per band by year group")).to_be_visible()
    shot(page, "dashboard.png")
