"""The fortnightly RADAR sheet (ONG-1): every pupil's YTD attendance, band, RAG, UA sessions and lates, with
their open cases, as xlsx (a sheet for the school and one per form) or csv.

RAG uses the fortnightly review's lines (policy.ongoing: green from 96%, amber from 90%, red below), on
unrounded percentages like every other threshold. In the xlsx the colours are conditional formats on the
numbers, so they stay right if someone sorts or edits the sheet. Text cells go through safe_cell: a pupil
or form name cannot smuggle a formula into a spreadsheet.
"""
from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casework.attendance import figures_for_all
from casework.chronology import safe_cell
from casework.config import Config
from casework.models import Case, Pupil
from casework.radar import QUIET

COLUMNS = (("upn", "UPN", 16), ("name", "Name", 26), ("year_group", "Year", 6), ("form", "Form", 8),
           ("attendance_pct", "YTD %", 8), ("band", "Band", 10), ("rag", "RAG", 8),
           ("possible", "Possible sessions", 10), ("unauthorised", "UA sessions", 10), ("lates", "Lates", 7),
           ("open_cases", "Open case(s)", 40))
FILLS = {"green": "C6EFCE", "amber": "FFEB9C", "red": "FFC7CE"}  # Excel's own good/neutral/bad fills


def rag_for(pct: float | None, config: Config) -> str:
    ong = config.policy.ongoing
    if pct is None:
        return ""
    return "green" if pct >= ong.rag_green_from else "amber" if pct >= ong.rag_amber_from else "red"


def radar_rows(s: Session, config: Config, through: dt.date) -> list[dict[str, Any]]:
    figures = figures_for_all(s, config, through)
    cases: dict[int, list[str]] = {}
    for c in s.scalars(select(Case).where(Case.closed_at.is_(None), Case.workflow.not_in(QUIET))
                       .order_by(Case.opened_at, Case.id)):
        cases.setdefault(c.pupil_id, []).append(f"{c.workflow}: {c.state}")
    rows = []
    for p in s.scalars(select(Pupil).where(Pupil.on_roll.is_(True))
                       .order_by(Pupil.year_group, Pupil.form, Pupil.family_name, Pupil.given_name)):
        f = figures.get(p.id)
        exact = f.attendance_exact if f else None
        rows.append({"upn": p.upn, "name": p.name, "year_group": p.year_group, "form": p.form,
                     "attendance_pct": f.attendance_pct if f else None,
                     "band": (f.band or "").replace("_", " ").capitalize() if f else "",
                     "rag": rag_for(exact, config), "possible": f.possible if f else 0,
                     "unauthorised": f.unauthorised if f else 0, "lates": f.lates if f else 0,
                     "open_cases": "; ".join(cases.get(p.id, []))})
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow([title for _, title, _ in COLUMNS])
        for r in rows:
            w.writerow([safe_cell(r[key]) if r[key] is not None else "" for key, _, _ in COLUMNS])


def write_xlsx(rows: list[dict[str, Any]], path: Path, config: Config, through: dt.date) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    _sheet(wb.active, "RADAR", rows)
    # forms in the order of the school (year, then name): 7H before 10H, as the rows are
    for form in sorted({r["form"] for r in rows}, key=lambda f: min((r["year_group"], f) for r in rows
                                                                     if r["form"] == f)):
        _sheet(wb.create_sheet(), _sheet_title(f"Form {form}"), [r for r in rows if r["form"] == form])
    key = wb.create_sheet("Key")
    ong = config.policy.ongoing
    for line in (("RADAR", f"year to date, through {through:%d %B %Y}"),
                 ("Green", f"{ong.rag_green_from}% and over"),
                 ("Amber", f"{ong.rag_amber_from}% to below {ong.rag_green_from}%"),
                 ("Red", f"below {ong.rag_amber_from}%"),
                 ("Band", "escalation band (POLICY STG); blank before the minimum sessions")):
        key.append(line)
    wb.save(path)


def _sheet_title(text: str) -> str:
    return "".join("_" if ch in "[]:*?/\\" else ch for ch in text)[:31]  # Excel's limits on sheet names


def _sheet(ws: Any, title: str, rows: list[dict[str, Any]]) -> None:
    from openpyxl.formatting.rule import CellIsRule, FormulaRule
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws.title = title
    ws.append([t for _, t, _ in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE4EE")
    for r in rows:
        ws.append([safe_cell(r[key]) for key, _, _ in COLUMNS])
    for i, (key, _, width) in enumerate(COLUMNS, 1):
        ws.column_dimensions[get_column_letter(i)].width = width
        if key == "attendance_pct":
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = "0.0"
    ws.freeze_panes = "A2"
    last = max(ws.max_row, 2)
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{last}"
    keys = [k for k, _, _ in COLUMNS]
    pct = get_column_letter(keys.index("attendance_pct") + 1)
    rag = get_column_letter(keys.index("rag") + 1)
    fill = {name: PatternFill("solid", start_color=c, end_color=c) for name, c in FILLS.items()}
    # the percentage is coloured by the row's RAG (computed unrounded, like every threshold), so a 95.96%
    # shown as 96.0 is still amber, as the review said; a pupil with no sessions yet has no RAG and no colour
    for name in FILLS:
        ws.conditional_formatting.add(f"{pct}2:{pct}{last}", FormulaRule(formula=[f'${rag}2="{name}"'],
                                                                          fill=fill[name]))
        ws.conditional_formatting.add(f"{rag}2:{rag}{last}", CellIsRule(
            operator="equal", formula=[f'"{name}"'], fill=fill[name]))
