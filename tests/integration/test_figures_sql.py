"""Set-based figures (one aggregate query) agree with the pure ones, on SQLite and PostgreSQL; and
`casework pupil show UPN --json` gives the CONTRACT.md keys."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from casework.attendance import (
    Figures,
    consecutive_days,
    consecutive_days_for_all,
    figures_for_all,
    figures_from_codes,
    unauthorised_in_window,
)
from casework.cli import main
from casework.context import App
from casework.models import Case, Mark, Pupil
from casework.upn import make_upn

ROOT = Path(__file__).resolve().parents[2]
D = dt.date
CONTRACT_KEYS = {"upn", "name", "form", "year_group", "possible_sessions", "attended_sessions",
                 "attendance_pct", "authorised_sessions", "unauthorised_sessions", "lates", "band",
                 "persistent_absentee", "cases"}
# one code per school day pattern, cycled over the pupil's days (AM, PM)
PATTERNS = {
    "full": [("/", "\\")],
    "ill_and_late": [("/", "\\"), ("L", "\\"), ("I", "I"), ("/", "\\"), ("U", "\\"), ("N", "O")],
    "trips_and_closures": [("/", "\\"), ("V", "P"), ("X", "X"), ("/", "Y1"), ("G", "G"), ("M", "\\")],
    "truant": [("O", "O"), ("O", "O"), ("/", "\\"), ("N", "N")],
}


def seed(app: App, days: list[dt.date]) -> dict[str, int]:
    """Four pupils with marks on `days`, plus one with none. Returns pattern -> pupil id."""
    ids = {}
    with app.sessions.begin() as s:
        for n, (name, pattern) in enumerate([*PATTERNS.items(), ("none", [])], 1):
            p = Pupil(upn=make_upn(357, 4001, 21, n), given_name=name.title(), family_name="Test",
                      date_of_birth=D(2014, 5, 1), year_group=7, form="7H")
            s.add(p)
            s.flush()
            ids[name] = p.id
            for i, day in enumerate(days if pattern else []):
                am, pm = pattern[i % len(pattern)]
                s.add_all([Mark(pupil_id=p.id, date=day, session="AM", code=am),
                           Mark(pupil_id=p.id, date=day, session="PM", code=pm)])
    return ids


def pure(app: App, pupil_id: int, since: dt.date, through: dt.date) -> Figures:
    with app.sessions() as s:
        codes = s.scalars(select(Mark.code).where(
            Mark.pupil_id == pupil_id, Mark.date >= since, Mark.date <= through)).all()
    return figures_from_codes(codes, app.config)


def test_figures_for_all_match_the_pure_figures(app: App) -> None:
    cal = app.calendar
    days = cal.days[:30]  # 3 Sep - 14 Oct 2026
    ids = seed(app, days)
    through, since = days[24], days[5]  # marks after `through` must not count
    with app.sessions() as s:
        ytd = figures_for_all(s, app.config, through)
        window = figures_for_all(s, app.config, through, since=since)
        some = figures_for_all(s, app.config, through, pupil_ids=[ids["truant"], ids["none"]])
    assert set(ytd) == {ids[k] for k in PATTERNS}  # no marks, no row
    for name in PATTERNS:
        assert ytd[ids[name]] == pure(app, ids[name], cal.first_day, through), name
        assert window[ids[name]] == pure(app, ids[name], since, through), name
    assert some[ids["truant"]] == ytd[ids["truant"]]
    assert some[ids["none"]].possible == 0 and some[ids["none"]].attendance_pct is None


def test_figures_for_all_concrete_numbers(app: App) -> None:
    days = app.calendar.days[:24]  # 48 sessions; each pattern repeats evenly
    ids = seed(app, days)
    with app.sessions() as s:
        f = figures_for_all(s, app.config, days[-1])
    full, late, trips, truant = (f[ids[k]] for k in ("full", "ill_and_late", "trips_and_closures", "truant"))
    assert (full.possible, full.attended, full.attendance_pct, full.band) == (48, 48, 100.0, "stage_1")
    # per 6 days: 7 present (one L), 2 I, U + N + O unauthorised, 2 lates (L, U)
    assert (late.possible, late.attended, late.authorised) == (48, 28, 8)
    assert (late.unauthorised, late.lates) == (12, 8)
    assert (late.attendance_pct, late.band, late.persistent_absentee) == (58.3, "stage_5", True)
    # per 6 days: 3 not counted (X, X, Y1); 4 present + 2 approved (V, P); 2 G unauthorised; 1 M
    assert (trips.possible, trips.not_counted, trips.approved_activity) == (36, 12, 8)
    assert (trips.attended, trips.authorised, trips.unauthorised) == (24, 4, 8)
    assert (truant.attended, truant.unauthorised, truant.severe_absentee) == (12, 36, True)


def test_abs2_cme1_consecutive_days_and_rolling_unauthorised(app: App) -> None:
    cal = app.calendar
    days = cal.days[:30]
    ids = seed(app, days)
    with app.sessions.begin() as s:  # the truant is in on day 9, then misses 20 school days unauthorised
        for m in s.scalars(select(Mark).where(Mark.pupil_id == ids["truant"], Mark.date >= days[9])):
            present = m.date == days[9]
            m.code = ("/" if present else "O") if m.session == "AM" else ("\\" if present else "N")
    unauthorised = app.config.codes_in("unauthorised")
    cme_days = app.config.policy.missing_education.consecutive_unauthorised_school_days
    with app.sessions() as s:
        assert consecutive_days(s, ids["truant"], days[-1], unauthorised, cal) == 20
        assert consecutive_days(s, ids["truant"], days[-3], unauthorised, cal) == 18
        assert consecutive_days(s, ids["full"], days[-1], unauthorised, cal) == 0
        streaks = consecutive_days_for_all(s, cal, days[-1], unauthorised, cme_days)
        assert streaks == {ids["truant"]: 20, ids["ill_and_late"]: 1}  # day 29 of its pattern is N, O
        assert consecutive_days_for_all(s, cal, days[-1], unauthorised, 5) == {ids["truant"]: 5,
                                                                             ids["ill_and_late"]: 1}
        # the last 2 school weeks are 10 school days, 20 sessions, all unauthorised
        assert unauthorised_in_window(s, ids["truant"], days[-1], 2, cal, app.config) == 20
        # ill_and_late over days 20-29: U on days 22 and 28, N + O on days 23 and 29
        assert unauthorised_in_window(s, ids["ill_and_late"], days[-1], 2, cal, app.config) == 6
        assert unauthorised_in_window(s, ids["ill_and_late"], days[-1], 1, cal, app.config) == 3


def test_pupil_show_json_gives_the_contract_keys(app: App) -> None:
    days = app.calendar.days[:24]
    ids = seed(app, days)
    opened = dt.datetime(2026, 9, 20, 17, 0, tzinfo=dt.UTC)
    with app.sessions.begin() as s:
        s.add_all([Case(pupil_id=ids["ill_and_late"], workflow="escalation", workflow_version=1, key="esc:1",
                        state="stage_5", opened_at=opened, updated_at=opened),
                   Case(pupil_id=ids["ill_and_late"], workflow="first_day", workflow_version=1, key="fd:1",
                        state="closed", opened_at=opened, updated_at=opened, closed_at=opened)])
        pupil = s.get(Pupil, ids["ill_and_late"])
        assert pupil is not None
        upn = pupil.upn
    args = ["--db", app.url, "--config", str(ROOT / "config.yaml"), "pupil", "show"]
    result = CliRunner().invoke(main, [*args, upn, "--json", "--on", days[-1].isoformat()])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert CONTRACT_KEYS <= set(out)
    assert (out["upn"], out["name"], out["form"], out["year_group"]) == (upn, "Ill_And_Late Test", "7H", 7)
    assert (out["possible_sessions"], out["attended_sessions"], out["attendance_pct"]) == (48, 28, 58.3)
    assert (out["authorised_sessions"], out["unauthorised_sessions"], out["lates"]) == (8, 12, 8)
    assert (out["band"], out["persistent_absentee"], out["grade"]) == ("stage_5", True, "U")
    assert out["cases"] == [{"id": 1, "workflow": "escalation", "state": "stage_5",
                             "opened": "2026-09-20T18:00:00+01:00"}]

    pretty = CliRunner().invoke(main, [*args, upn, "--on", days[-1].isoformat()])
    assert pretty.exit_code == 0, pretty.output
    assert "58.3%" in pretty.output and "stage_5" in pretty.output and "escalation" in pretty.output

    unknown = CliRunner().invoke(main, [*args, make_upn(357, 4001, 21, 99), "--json"])
    assert unknown.exit_code == 2
    assert "no pupil with UPN" in unknown.output
