"""Letters (notifications.render): every letter id has its templates, each renders to its golden file with a
fixed context, a missing field is an error (never a blank), and the poster's grade table is the policy's.

Golden files: tests/golden/letters/<id>.html, .txt and .sms. After an intended change to a template or
to config.yaml, regenerate them with `UPDATE_GOLDEN=1 pytest tests/unit/test_render.py` and review the diff.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from pypdf import PdfReader

from casework.calendar import SchoolCalendar
from casework.config import Config, load_config
from notifications.context import Facts, build_context
from notifications.render import render, render_sms, template_exists
from notifications.sample import EXAMPLES, PUPIL, example_context, example_facts
from workflows.registry import active_workflows, all_workflows, optional_workflows

ROOT = Path(__file__).resolve().parent.parent.parent
GOLDEN = ROOT / "tests" / "golden" / "letters"
NATIONAL = ROOT / "policies" / "national-2024.yaml"


@pytest.fixture(scope="module")
def national() -> Config:
    """The 2024 national framework preset: it switches on the optional workflows (NAT-PN-2's notice to improve)."""
    return load_config(NATIONAL)


def letter_ids(config: Config, *more: Config) -> list[str]:
    """Every letter any workflow can send (the standard ones and the optional ones a config switches on), and
    every letter config.yaml (or another config, such as the national preset) lists."""
    used = {le for wf in [*all_workflows().values(), *optional_workflows().values()] for le in wf.letters()}
    return sorted(used.union(*(set(c.letters) for c in (config, *more))))


def test_every_letter_id_has_its_templates(config: Config, national: Config) -> None:
    """Done-when of issue 6: a letter id used by a workflow or listed in config without a template fails."""
    missing = []
    for lid in letter_ids(config, national):
        spec = config.letters.get(lid) or national.letters.get(lid)
        if spec is None:
            missing.append(f"{lid}: used by a workflow but not in config.yaml or {NATIONAL.name} letters:")
            continue
        needed = [f"letters/{lid}.html.j2", f"letters/{lid}.txt.j2"]
        if "sms" in spec.channels:
            needed.append(f"letters/{lid}.sms.j2")
        missing += [name for name in needed if not template_exists(name)]
    # and a config lists every letter of the workflows it switches on
    for name, cfg in (("config.yaml", config), (NATIONAL.name, national)):
        missing += [f"{lid}: sent by {wf} but not in {name} letters:" for wf, w in active_workflows(cfg).items()
                    for lid in sorted(w.letters()) if lid not in cfg.letters]
    assert missing == []


def test_the_enumeration_covers_the_optional_workflows(config: Config, national: Config) -> None:
    ids = set(letter_ids(config, national))
    optional = {le for wf in optional_workflows().values() for le in wf.letters()}
    assert {"notice_to_improve", "penalty_notice"} <= optional <= ids
    assert "penalty_notice_2024" in active_workflows(national)
    assert set(national.letters) <= ids


def test_the_sample_covers_every_letter(config: Config, national: Config) -> None:
    assert set(config.letters) | set(national.letters) <= set(EXAMPLES)


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize("letter_id", sorted(EXAMPLES))
def test_letter_matches_its_golden_file(config: Config, calendar: SchoolCalendar, national: Config,
                                       letter_id: str) -> None:
    if letter_id not in config.letters:
        config, calendar = national, SchoolCalendar(national)
    ctx = example_context(config, calendar, letter_id)
    html, text = render(letter_id, ctx)
    _golden(f"{letter_id}.html", html)
    _golden(f"{letter_id}.txt", text)
    if template_exists(f"letters/{letter_id}.sms.j2"):
        _golden(f"{letter_id}.sms", render_sms(letter_id, ctx) + "\n")
    # what every letter says: letterhead, date, parent, pupil, figures, who to contact
    for part in (config.school.name, config.school.phone, "Monday 5 October 2026", "Dear Mrs Sam Example",
                 "Jordan", "Who to contact"):
        assert part in html
    assert "12 Mill Lane" in html and "OL6 9AA" in html  # the postal address block


@pytest.mark.parametrize("letter_id", ["concern_letter_1", "concern_letter_2", "risk_of_pa_letter_3",
                                       "final_warning"])
def test_stage_letters_give_the_figures_and_the_grade(config: Config, calendar: SchoolCalendar,
                                                      letter_id: str) -> None:
    """STG-2..5: attendance %, sessions missed, days and lessons equivalents, the grade, what happens next."""
    facts = example_facts(config, letter_id)
    f = facts.figures
    _, text = render(letter_id, build_context(facts, config, calendar))
    assert f.attendance_pct is not None and f.grade is not None
    assert f"{f.attendance_pct:g}%" in text
    missed = f"{f.absent} ({f.authorised} authorised, {f.unauthorised} unauthorised)"
    assert f"Sessions missed:                {missed}" in text
    assert f"Attendance as a GCSE grade:     {f.grade}" in text and "WHAT HAPPENS NEXT" in text


def test_a_missing_field_is_an_error_never_a_blank(config: Config, calendar: SchoolCalendar) -> None:
    ctx = example_context(config, calendar, "concern_letter_1")
    del ctx["figures"]["grade"]
    with pytest.raises(UndefinedError):
        render("concern_letter_1", ctx)
    ctx = example_context(config, calendar, "meeting_confirmation")
    del ctx["details"]["when"]
    with pytest.raises(UndefinedError):
        render("meeting_confirmation", ctx)


def test_names_are_escaped_in_html_but_not_in_text(config: Config, calendar: SchoolCalendar) -> None:
    facts = example_facts(config, "concern_letter_1")
    odd = Facts(**{**facts.__dict__, "pupil": {**PUPIL, "given_name": "<b>Jo & Co</b>"}})
    html, text = render("concern_letter_1", build_context(odd, config, calendar))
    assert "&lt;b&gt;Jo &amp; Co&lt;/b&gt;" in html and "<b>Jo" not in html
    assert "<b>Jo & Co</b>" in text


def test_grade_table_is_the_policy_poster(config: Config, calendar: SchoolCalendar) -> None:
    """POLICY reference figures: 100% 8-9; 98-99% 7-8; 97% 6; 96% 5; 93-95% 4; 91-92% 3; 90% 2; 88-89% 1;
    87% or less U."""
    grades = example_context(config, calendar, "concern_letter_1")["grades"]
    assert [(g["range"], g["grade"]) for g in grades] == [
        ("100%", "8-9"), ("98-99%", "7-8"), ("97%", "6"), ("96%", "5"), ("93-95%", "4"), ("91-92%", "3"),
        ("90%", "2"), ("88-89%", "1"), ("87% or less", "U")]


def test_sms_short_form_fits_one_message(config: Config, calendar: SchoolCalendar) -> None:
    for lid, spec in config.letters.items():
        if "sms" in spec.channels:
            assert len(render_sms(lid, example_context(config, calendar, lid))) <= 160


def test_letter_pdf_is_one_a4_page_with_the_pupil_and_figures(config: Config,
                                                               calendar: SchoolCalendar) -> None:
    from notifications.pdf import html_to_pdf

    facts = example_facts(config, "risk_of_pa_letter_3")
    reader = PdfReader(io.BytesIO(html_to_pdf(render("risk_of_pa_letter_3",
                                                     build_context(facts, config, calendar)).html)))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width) * 25.4 / 72), round(float(box.height) * 25.4 / 72)) == (210, 297)  # A4
    text = reader.pages[0].extract_text()
    assert "Jordan Example" in text and f"{facts.figures.attendance_pct:g}%" in text


def test_notice_to_improve_gives_the_sessions_the_period_and_the_penalties(national: Config) -> None:
    """NAT-PN-2: the sessions that met the threshold, the improvement period, the NAT-PN-3 payment schedule."""
    calendar = SchoolCalendar(national)
    html, text = render("notice_to_improve", example_context(national, calendar, "notice_to_improve"))
    assert "10 sessions (half days) of unauthorised absence since Thursday 3 September 2026" in text
    assert "10 sessions of unauthorised absence within 10 school weeks" in text
    assert "runs from Tuesday 6 October 2026 to Monday 2 November 2026" in text
    assert "£80 if paid within 21 days, or £160 if paid within 28 days" in text
    assert "not paid within 28 days may lead to prosecution" in text
    assert "Notice to improve: Jordan Example (9B)" in html
