"""The sample school's half term through every workflow: no duplicate letters, and no case, task or letter
for a pupil who does not meet a rule. The expected totals are computed here, independently of the engine,
straight from the CSV marks (nobody completes a task, so nothing steps down)."""
from __future__ import annotations

import csv
import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path

from sqlalchemy import select

from casework import engine
from casework.config import resource_dir
from casework.context import App
from casework.imports import KINDS, run_import
from casework.models import Case, Letter, Pupil, Task

SAMPLE = resource_dir("data") / "sample"
ORDER = {"stage_2": 1, "stage_3": 2, "stage_4": 3, "stage_5": 4}


def _rows(name: str) -> list[dict[str, str]]:
    with (SAMPLE / f"{name}.csv").open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _band(pct: float, config) -> str | None:  # noqa: ANN001 - the bands, read from config independently
    st = config.policy.stages
    for name in ("stage_1", "monitor", "stage_2", "stage_3", "stage_4", "stage_5"):
        b = getattr(st, name)
        if pct >= b.lower and (b.upper is None or pct < b.upper):
            return name
    return None


def expected(config, last: dt.date) -> dict[str, dict[str, object]]:  # noqa: ANN001
    cat = {c: v.category for c, v in config.policy.codes.table.items()}
    late = {c for c, v in config.policy.codes.table.items() if v.late}
    by_pupil: dict[str, dict[dt.date, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in _rows("marks"):
        by_pupil[r["upn"]][dt.date.fromisoformat(r["date"])].append(r["code"])
    out = {}
    for upn, days in by_pupil.items():
        possible = attended = lates = 0
        worst, n_marks = None, False
        for day in sorted(d for d in days if d <= last):
            for code in days[day]:
                if cat[code] != "not_counted":
                    possible += 1
                    attended += cat[code] in ("present", "approved_activity")
                lates += code in late
                n_marks |= code == config.policy.codes.no_reason
            if possible >= config.policy.stages.min_possible_sessions:
                band = _band(100 * attended / possible, config)
                if band in ORDER and (worst is None or ORDER[band] > ORDER[worst]):
                    worst = band
        out[upn] = {"worst": worst, "lates": lates, "no_reason": n_marks,
                    "perfect": possible > 0 and attended == possible}
    return out


def test_sample_half_term_totals_match_independent_figures(app: App) -> None:
    now = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    for kind in KINDS:
        run_import(app.sessions, kind, Path(SAMPLE / f"{kind}.csv"), app.config, app.calendar, now)
    last = max(dt.date.fromisoformat(r["date"]) for r in _rows("marks"))
    engine.run(app, app.calendar.at(last, dt.time(23, 59)))
    want = expected(app.config, last)
    parents = Counter(r["upn"] for r in _rows("contacts") if r["parental_responsibility"] == "Y")
    with app.sessions() as s:
        upn = dict(s.execute(select(Pupil.id, Pupil.upn)).all())
        cases = [(upn[c.pupil_id], c.workflow, c.state) for c in s.scalars(select(Case))]
        letters = s.scalars(select(Letter)).all()
        all_tasks = s.scalars(select(Task)).all()
        task_pupils = {upn[t.pupil_id] for t in all_tasks}
        reviews = {(upn[t.pupil_id], app.calendar.local_date(t.created_at)) for t in all_tasks
                   if t.kind == "tutor_review"}

    # no letter twice: one per template, occasion and recipient
    assert len({le.key for le in letters}) == len(letters)
    sent = Counter((upn[le.pupil_id], le.template) for le in letters)

    # STG: every pupil's escalation case stands at the worst band they reached, and nobody else has one
    stage = {u: st for u, wf, st in cases if wf == "escalation"}
    assert stage == {u: w["worst"] for u, w in want.items() if w["worst"]}
    stage_letter = {"stage_2": "concern_letter_1", "stage_3": "concern_letter_2", "stage_4": "risk_of_pa_letter_3",
                    "stage_5": "final_warning"}
    for u, w in want.items():
        for band, letter in stage_letter.items():
            entered = w["worst"] is not None and ORDER[w["worst"]] >= ORDER[band]
            # a stage passed over sends nothing; the stage reached sends its letter to each parent
            if not entered:
                assert sent[(u, letter)] == 0, (u, letter)
        if w["worst"]:
            assert sent[(u, stage_letter[w["worst"]])] == parents[u]

    # FDR: a first-day case for exactly the pupils with a no-reason mark
    assert {u for u, wf, _ in cases if wf == "first_day"} == {u for u, w in want.items() if w["no_reason"]}

    # PUN-1: a message per threshold reached, to each parent
    thresholds = app.config.policy.punctuality.parentmail_at_lates
    for u, w in want.items():
        assert sent[(u, "punctuality_parentmail")] == parents[u] * sum(w["lates"] >= t for t in thresholds), u

    # STG-1: congratulations for exactly the pupils at 100% at the half-term end
    assert {u for (u, t), n in sent.items() if t == "congratulations_100"} == {
        u for u, w in want.items() if w["perfect"]}

    # ONG-2: a tutor review at each fortnight for exactly the pupils below the line on the figures to the
    # previous school day, computed here from the CSV marks
    line = app.config.policy.ongoing.tutor_review_below
    reviews_want = {(u, f) for f in app.calendar.fortnight_days() if f <= last
                    for u, pct in _ytd(app.config, app.calendar.previous_school_day(f)).items() if pct < line}
    assert reviews_want, "the sample should have pupils below the tutor review line"
    assert reviews == reviews_want

    # nobody who meets no rule has a task
    quiet = {u for u, w in want.items() if not w["worst"] and not w["no_reason"] and w["lates"] < min(thresholds)
             and not any(u == r for r, _ in reviews_want)}
    assert quiet, "the sample should have pupils with nothing to act on"
    assert not (quiet & task_pupils)


def _ytd(config, through: dt.date | None) -> dict[str, float]:  # noqa: ANN001
    """Each pupil's attendance to `through` from the CSV marks (pupils with no possible session left out)."""
    cat = {c: v.category for c, v in config.policy.codes.table.items()}
    possible: Counter[str] = Counter()
    attended: Counter[str] = Counter()
    for r in _rows("marks"):
        if through is None or dt.date.fromisoformat(r["date"]) > through or cat[r["code"]] == "not_counted":
            continue
        possible[r["upn"]] += 1
        attended[r["upn"]] += cat[r["code"]] in ("present", "approved_activity")
    return {u: 100 * attended[u] / n for u, n in possible.items() if n}
