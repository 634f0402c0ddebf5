"""Exports staff take away (ONG-1 RADAR, DAT-1 chronology PDF, CW-4 evidence pack, DAT-2 LA share), checked
by opening them: pypdf for PDFs (pages, the pupil's name and figures), openpyxl for the sheet (sheets,
frozen header, conditional formats, no formula injection). Then every letter template rendered with the
demo school's own data, as the engine produced it."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casework import engine
from casework.cli import main
from casework.config import Config, resource_dir
from casework.context import App
from casework.imports import KINDS, run_import
from casework.models import AuditEntry, Case, ChronologyEntry, Contact, Letter, Pupil
from casework.uow import log
from notifications.exports import chronology_pdf, evidence_pack_pdf, la_share, la_share_pdf
from notifications.gather import letter_context
from notifications.pdf import merge_to_pdf
from notifications.radar_sheet import radar_rows, write_csv, write_xlsx
from notifications.render import render, render_sms, template_exists
from tests.conftest import utc
from tests.factories import add_pupil, fill

NOW = utc(2026, 10, 9, 16)  # Friday 9 October 2026, 17:00 school-local
THROUGH = dt.date(2026, 10, 9)


def one(s: Session, pupil_id: int) -> Pupil:
    pupil = s.get(Pupil, pupil_id)
    assert pupil is not None
    return pupil


def pdf_text(data: bytes) -> tuple[int, str]:
    """Page count and the text with whitespace collapsed (table cells wrap lines anywhere)."""
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), " ".join(" ".join(p.extract_text() for p in reader.pages).split())


@pytest.fixture
def casefile(app: App) -> Pupil:
    """A pupil at stage 4 with letters (a PN warning among them), a meeting and chronology entries."""
    p = add_pupil(app)
    fill(app, p, app.calendar.days[:25], absent={2: "I", 5: "O", 9: "N"}, late={1, 4})  # 88%: stage 4
    with app.sessions.begin() as s:
        meeting = Case(pupil_id=p.id, workflow="meeting", workflow_version=1, key=f"{p.id}:1", state="held",
                       opened_at=NOW - dt.timedelta(days=9), updated_at=NOW - dt.timedelta(days=2),
                       closed_at=NOW - dt.timedelta(days=2),
                       data={"at": (NOW - dt.timedelta(days=2)).isoformat(), "missed": 1,
                             "attendees": ["Pastoral manager"], "purpose": "attendance action plan"})
        s.add(meeting)
        s.flush()
        log(s, at=NOW - dt.timedelta(days=2), pupil_id=p.id, category="meeting", case=meeting, staff="S003",
            summary="Meeting held: parents agreed the plan", rule="MTG-1")
        for i, template in enumerate(("concern_letter_1", "risk_of_pa_letter_3", "pn_warning")):
            le = Letter(key=f"{template}:{p.id}:x", template=template, rule=app.config.letters[template].rule,
                        pupil_id=p.id, recipient=f"Parent 1 of {p.upn}", channel="post", address="1 High St",
                        created_at=NOW - dt.timedelta(days=8 - i), status="sent",
                        sent_at=NOW - dt.timedelta(days=7 - i), context={})
            s.add(le)
            s.flush()
            log(s, at=le.created_at, pupil_id=p.id, category="letter", ref=f"letter:{le.id}", rule=le.rule,
                summary=f"Letter {template} to {le.recipient} by post")
    return p


def test_chronology_pdf_is_cpoms_style_and_audited(app: App, casefile: Pupil) -> None:
    with app.sessions.begin() as s:
        pdf = chronology_pdf(s, app, one(s, casefile.id), NOW, "S005")
    pages, text = pdf_text(pdf)
    assert pages >= 1 and casefile.name in text and casefile.upn in text
    assert "Meeting held: parents agreed the plan" in text
    assert "Risk of persistent absence (post, sent)" in text  # the entry names its letter
    with app.sessions() as s:  # DAT-2: the read is audited
        audited = s.scalar(select(AuditEntry.action).where(AuditEntry.pupil_id == casefile.id))
    assert audited == "export:Chronology"


def test_evidence_pack_has_every_section(app: App, casefile: Pupil) -> None:
    """CW-4: chronology, marks by half term, letters sent with dates, meetings held, penalty notices."""
    with app.sessions.begin() as s:
        pupil = one(s, casefile.id)
        pdf = evidence_pack_pdf(s, app, pupil, NOW, "S005")
        share = la_share(s, app, pupil, NOW, "S005")
    pages, text = pdf_text(pdf)
    assert pages >= 4  # each numbered section starts a page
    for heading in ("1. Chronology", "2. Attendance marks by half term", "3. Letters sent",
                    "4. Meetings held", "5. Penalty notices"):
        assert heading in text
    ytd = share["pupil"]["figures"]
    assert casefile.name in text and f"{ytd['attendance']} of {ytd['possible']} sessions" in text
    assert "Autumn 1" in text and "Penalty notice warning" in text and "attendance action plan" in text
    week = share["half_terms"][0]["weeks"][1]["days"]  # the week of Monday 7 September
    assert week[:3] == ["I I", "/ \\", "L \\"]


def test_la_share_json_and_pdf(app: App, casefile: Pupil) -> None:
    with app.sessions.begin() as s:
        pupil = one(s, casefile.id)
        data = json.loads(json.dumps(la_share(s, app, pupil, NOW)))  # JSON-safe
        pages, text = pdf_text(la_share_pdf(s, app, pupil, NOW))
    assert data["pupil"]["upn"] == casefile.upn and len(data["pupil"]["contacts"]) == 2
    assert {le["template"] for le in data["letters"]} == {"concern_letter_1", "risk_of_pa_letter_3",
                                                          "pn_warning"}
    assert [m["state"] for m in data["meetings"]] == ["held"] and data["entries"]
    assert pages >= 1 and casefile.name in text and "Local authority attendance share" in text


def test_radar_sheet_xlsx_and_csv(app: App, config: Config, casefile: Pupil, tmp_path: Path) -> None:
    """ONG-1: a row per pupil (YTD %, band, RAG, UA, lates, open case), per-form sheets, frozen header,
    RAG conditional formats; a name that looks like a formula stays text."""
    good = add_pupil(app, form="8B", year=8)
    fill(app, good, app.calendar.days[:25])
    new = add_pupil(app, form="8B", year=8)  # no marks yet: no RAG
    senior = add_pupil(app, form="10A", year=10)  # sheets go in the school's order: 7H, 8B, then 10A
    fill(app, senior, app.calendar.days[:25])
    with app.sessions.begin() as s:
        s.add(Case(pupil_id=casefile.id, workflow="escalation", workflow_version=1, key="e", state="stage_4",
                   opened_at=NOW, updated_at=NOW, data={}))
    with app.sessions() as s:
        rows = radar_rows(s, config, THROUGH)
    write_xlsx(rows, tmp_path / "radar.xlsx", config, THROUGH)
    write_csv(rows, tmp_path / "radar.csv")
    wb = load_workbook(tmp_path / "radar.xlsx")
    assert wb.sheetnames == ["RADAR", "Form 7H", "Form 8B", "Form 10A", "Key"]
    ws = wb["RADAR"]
    header = [c.value for c in ws[1]]
    assert header[:7] == ["UPN", "Name", "Year", "Form", "YTD %", "Band", "RAG"] and ws.freeze_panes == "A2"
    by_upn = {r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)}
    mine = by_upn[casefile.upn]
    assert (mine["RAG"], mine["Band"], mine["Open case(s)"]) == ("red", "Stage 4", "escalation: stage_4")
    assert mine["UA sessions"] == 4 and mine["Lates"] == 2 and mine["YTD %"] == 88.0
    assert by_upn[good.upn]["RAG"] == "green" and by_upn[new.upn]["RAG"] is None
    ranges = {str(cf.sqref) for cf in ws.conditional_formatting}
    assert {"E2:E5", "G2:G5"} <= ranges  # the RAG colours cover every pupil row
    assert ws["E2"].number_format == "0.0" and wb["Form 8B"].max_row == 3
    with (tmp_path / "radar.csv").open(encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 4


def test_formula_injection_is_neutralised_in_the_radar(app: App, config: Config, tmp_path: Path) -> None:
    p = add_pupil(app, form="=cmd|' /C calc'!A0")
    with app.sessions.begin() as s:
        s.get(Pupil, p.id).given_name = "@SUM(1+1)"  # type: ignore[union-attr]
    with app.sessions() as s:
        rows = radar_rows(s, config, THROUGH)
    write_xlsx(rows, tmp_path / "r.xlsx", config, THROUGH)
    write_csv(rows, tmp_path / "r.csv")
    ws = load_workbook(tmp_path / "r.xlsx")["RADAR"]
    assert ws["B2"].value.startswith("'@SUM") and ws["D2"].value.startswith("'=cmd")
    assert ws["B2"].data_type == "s" and ws["D2"].data_type == "s"
    assert "'@SUM(1+1)" in (tmp_path / "r.csv").read_text(encoding="utf-8")


def test_cli_exports_and_preview(app: App, casefile: Pupil, tmp_path: Path) -> None:
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(main, ["--db", app.url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    cli("letters", "render", "concern_letter_1", "--output", str(tmp_path / "preview.pdf"))
    assert pdf_text((tmp_path / "preview.pdf").read_bytes())[0] == 1
    assert "late" in cli("letters", "render", "punctuality_parentmail", "--sms")
    cli("chronology", casefile.upn, "--format", "pdf", "--output", str(tmp_path / "c.pdf"))
    cli("evidence-pack", casefile.upn, "--output", str(tmp_path / "e.pdf"))
    cli("la-share", casefile.upn, "--output", str(tmp_path / "la.json"))
    cli("radar", "--output", str(tmp_path / "r.xlsx"), "--on", "2026-10-09")
    assert casefile.name in pdf_text((tmp_path / "c.pdf").read_bytes())[1]
    assert json.loads((tmp_path / "la.json").read_text())["pupil"]["upn"] == casefile.upn
    outbox = json.loads(cli("outbox", "--json"))
    assert {r["status"] for r in outbox} == {"sent"} and len(outbox) == 3
    bad = runner.invoke(main, ["--db", app.url, "chronology", casefile.upn, "--format", "pdf"])
    assert bad.exit_code == 2 and "--output" in bad.output


# --- every template with the demo school's data ------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, config: Config) -> Iterator[App]:
    """The sample school (data/sample) imported and its half term replayed, once for this module."""
    app = App(db_url=f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}", _config=config)
    app.init()
    sample = resource_dir("data") / "sample"
    for kind in KINDS:
        run_import(app.sessions, kind, sample / f"{kind}.csv", config, app.calendar, NOW)
    engine.run(app, app.calendar.at(dt.date(2026, 10, 23), dt.time(23, 59)))
    yield app
    app.engine.dispose()


def test_every_letter_renders_with_the_demo_schools_data(demo: App, config: Config) -> None:
    """Every outbox letter the engine produced renders (HTML, text, SMS where it goes by SMS); letter ids
    the half term did not produce are written for a demo pupil as their workflows would write them."""
    with demo.sessions.begin() as s:
        produced = {t for (t,) in s.execute(select(Letter.template).distinct())}
        contact = s.scalars(select(Contact).order_by(Contact.id)).first()
        assert contact is not None
        for template in sorted(set(config.letters) - produced):
            s.add(Letter(key=f"demo:{template}", template=template, rule=config.letters[template].rule,
                         pupil_id=contact.pupil_id, contact_id=contact.id, recipient=contact.name,
                         channel=config.letters[template].channels[0], address=contact.address,
                         created_at=utc(2026, 10, 22, 17), status="pending", context={}))
    first_of_each: dict[str, str] = {}
    with demo.sessions() as s:
        letters = s.scalars(select(Letter).order_by(Letter.id)).all()
        assert {le.template for le in letters} == set(config.letters)
        for le in letters:
            ctx = letter_context(s, demo, le)
            html, text = render(le.template, ctx)
            assert ctx["pupil"]["name"] in html and ctx["figures"]["attendance"] in text
            if template_exists(f"letters/{le.template}.sms.j2"):
                assert len(render_sms(le.template, ctx)) <= 306
            first_of_each.setdefault(le.template, html)
        names = {s.get(Pupil, le.pupil_id).name for le in letters}  # type: ignore[union-attr]
        total = s.scalar(select(func.count()).select_from(ChronologyEntry))
    assert len(letters) > 100 and total
    pages, text = pdf_text(merge_to_pdf(first_of_each[t] for t in sorted(first_of_each)))
    assert pages == len(config.letters)  # every letter fits one A4 page
    assert sum(name in text for name in names) >= 1 and "%" in text


def test_dat2_a_read_without_a_staff_id_is_audited_with_the_account_that_ran_it(app: App, casefile: Pupil) -> None:
    import getpass

    with app.sessions.begin() as s:
        chronology_pdf(s, app, one(s, casefile.id), NOW, None)
    with app.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.pupil_id == casefile.id)).one()
    assert entry.staff is None and f"run by the account {getpass.getuser()!r}" in entry.detail
