"""Bad input, generated (issue 9): malformed import files and config files.

Every generated file must exit 2 with a message naming the file and where in it (row and column, or the
key path), and store nothing. A formula in a name is data: it is imported as text, and every CSV export
neutralises it (a leading apostrophe) so that a spreadsheet never runs it.
SQLite only: one throw-away database per test function, seeded with a few pupils through the CSV import.
"""
from __future__ import annotations

import codecs
import copy
import csv
import datetime as dt
import functools
import io
import itertools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import create_engine, func, select

from casework.cli import main
from casework.config import Config, parse_config
from casework.context import App
from casework.errors import InputError
from casework.imports import COLUMNS, run_import
from casework.models import ChronologyEntry, Contact, Mark, MarkChange, Pupil, Staff, Timer
from casework.upn import make_upn
from tests.conftest import ROOT

CONFIG = str(ROOT / "config.yaml")
BOUNDED = settings(max_examples=25, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])
SEEDED = [make_upn(357, 4001, 26, i) for i in range(1, 4)]
SCHOOL_DAY = "2026-09-03"  # the first school day of the packaged calendar
FORMULAS = ("=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A9)", "=HYPERLINK(\"http://x\")")
CSV_FIELD_LIMIT = csv.field_size_limit()
_files = itertools.count(1)
NOW = dt.datetime(2026, 9, 10, 17, 0, tzinfo=dt.UTC)


# --- the database and the command line -----------------------------------------------------------------
def cli(db: str, *args: str, config: str = CONFIG) -> Result:
    return CliRunner().invoke(main, ["--db", db, "--config", config, *args])


def counts(db: str) -> dict[str, int]:
    engine = create_engine(db)
    try:
        with engine.connect() as c:
            return {m.__tablename__: c.scalar(select(func.count()).select_from(m)) or 0
                    for m in (Pupil, Contact, Staff, Mark, MarkChange, Timer)}
    finally:
        engine.dispose()


def pupils_csv(rows: list[tuple[str, str]]) -> str:
    """(upn, given name) -> a valid pupils file."""
    return "upn,given_name,family_name,date_of_birth,year_group,form\n" + "".join(
        f"{upn},{csv_quote(given)},Lee,2014-01-02,7,7A\n" for upn, given in rows)


def csv_quote(value: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([value])
    return out.getvalue()


@pytest.fixture
def db(tmp_path: Path) -> str:
    """An initialised SQLite database with a few pupils on roll, imported as a school would."""
    url = f"sqlite:///{tmp_path / 'casework.db'}"
    seed = tmp_path / "seed.csv"
    seed.write_text(pupils_csv([(u, f"Seed{i}") for i, u in enumerate(SEEDED)]), encoding="utf-8")
    result = cli(url, "import", "pupils", str(seed))
    assert result.exit_code == 0, result.output
    return url


# --- valid rows of each kind -----------------------------------------------------------------------------
# kind -> (header, the text column a name goes in, the column a duplicate row is reported in)
HEADERS: dict[str, list[str]] = {kind: list(required) for kind, (required, _) in COLUMNS.items()}
HEADERS["marks"] = [*COLUMNS["marks"][0], "reason"]  # a free-text column to put accents and huge text in
NAME_COLUMN = {"pupils": "given_name", "contacts": "name", "staff": "name", "marks": "reason"}
KEY_COLUMN = {"pupils": "upn", "contacts": "contact_id", "staff": "staff_id", "marks": "session"}
LIMITS = {"pupils": Pupil.__table__.c.given_name.type.length, "contacts": Contact.__table__.c.name.type.length,
          "staff": Staff.__table__.c.name.type.length, "marks": Mark.__table__.c.reason.type.length}


def valid_record(kind: str, i: int, name: str) -> dict[str, str]:
    """The i-th valid row of a kind (distinct keys by i); `name` goes in the kind's text column."""
    if kind == "pupils":
        return {"upn": make_upn(357, 4001, 27, i + 1), "given_name": name, "family_name": "Ray",
                "date_of_birth": "2014-05-06", "year_group": "7", "form": "7B"}
    if kind == "contacts":
        return {"upn": SEEDED[i % len(SEEDED)], "contact_id": f"C{i}", "name": name, "relationship": "mother",
                "parental_responsibility": "Y"}
    if kind == "staff":
        return {"staff_id": f"T{i:03d}", "name": name, "email": f"t{i}@heys.example.org", "roles": "form_tutor"}
    # marks: one pupil, two sessions a day, so rows differ by session and day
    return {"upn": SEEDED[0], "date": f"2026-09-{3 + i // 2:02d}", "session": ("AM", "PM")[i % 2], "code": "/",
            "reason": name}


@dataclass
class BadFile:
    content: bytes
    row: int  # where the message must point (the header is row 1)
    column: str | None
    why: str  # shown by hypothesis when an example fails


def render(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue()


Mutation = Callable[[st.DrawFn, str, list[dict[str, str]]], BadFile]


def _row_index(draw: st.DrawFn, records: list[dict[str, str]]) -> int:
    return draw(st.integers(0, len(records) - 1))


def _utf8(kind: str, records: list[dict[str, str]], why: str, row: int, column: str | None) -> BadFile:
    header = HEADERS[kind]
    return BadFile(render(header, [[r[c] for c in header] for r in records]).encode(), row, column, why)


def latin1(draw: st.DrawFn, kind: str, records: list[dict[str, str]]) -> BadFile:
    k = _row_index(draw, records)
    records[k][NAME_COLUMN[kind]] = draw(st.sampled_from(["Zoë", "Chloé", "Ñuñez", "Siân £5"]))
    header = HEADERS[kind]
    text = render(header, [[r[c] for c in header] for r in records])
    return BadFile(text.encode("latin-1"), k + 2, None, "latin-1 bytes")


def utf16(draw: st.DrawFn, kind: str, records: list[dict[str, str]]) -> BadFile:
    header = HEADERS[kind]
    text = render(header, [[r[c] for c in header] for r in records])
    encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be"]))
    return BadFile(text.encode(encoding), 1, None, encoding)


def missing_column(draw: st.DrawFn, kind: str, records: list[dict[str, str]]) -> BadFile:
    gone = draw(st.sampled_from(COLUMNS[kind][0]))
    header = [c for c in HEADERS[kind] if c != gone]
    return BadFile(render(header, [[r[c] for c in header] for r in records]).encode(), 1, gone, f"no {gone}")


def bad_value(draw: st.DrawFn, kind: str, records: list[dict[str, str]]) -> BadFile:
    """One field of one row replaced by something its column does not accept."""
    choices = {
        "pupils": [("date_of_birth", ["2014-13-01", "02/01/2014", "2014-02-30", "", "yesterday"]),
                   ("year_group", ["seven", "7.5", "", "99999999999"]), ("upn", ["A12345678901X", "123", ""])],
        "contacts": [("parental_responsibility", ["maybe", "", "1"]), ("upn", [make_upn(357, 4001, 26, 9)]),
                     ("contact_id", [""])],
        "staff": [("roles", ["janitor", "", "headteacher;wizard"]), ("email", [""])],
        "marks": [("date", ["2026-09-31", "2026-09-05", "3 Sept", ""]), ("code", ["Q9", "ZZ", "", "n"]),
                  ("session", ["MD", "", "morning"]), ("upn", [make_upn(357, 4001, 26, 9)])],
    }[kind]
    column, values = draw(st.sampled_from(choices))
    k = _row_index(draw, records)
    records[k][column] = draw(st.sampled_from(values))
    return _utf8(kind, records, f"{column}={records[k][column]!r}", k + 2, column)


def huge_field(draw: st.DrawFn, kind: str, records: list[dict[str, str]]) -> BadFile:
    """Longer than the column (named) or than a CSV field may be at all (the row only)."""
    k = _row_index(draw, records)
    if draw(st.booleans()):
        records[k][NAME_COLUMN[kind]] = "x" * (LIMITS[kind] + draw(st.integers(1, 5000)))
        return _utf8(kind, records, "longer than the column", k + 2, NAME_COLUMN[kind])
    records[k][NAME_COLUMN[kind]] = "y" * (CSV_FIELD_LIMIT + 1)
    return _utf8(kind, records, "longer than a CSV field", k + 2, None)


def duplicate(draw: st.DrawFn, kind: str, records: list[dict[str, str]]) -> BadFile:
    records.append(dict(records[_row_index(draw, records)]))
    return _utf8(kind, records, "duplicate row", len(records) + 1, KEY_COLUMN[kind])


def field_count(draw: st.DrawFn, kind: str, records: list[dict[str, str]]) -> BadFile:
    """A row with more fields than the header (a shifted row), or fewer than its required columns."""
    header = HEADERS[kind]
    rows = [[r[c] for c in header] for r in records]
    k = _row_index(draw, records)
    if draw(st.booleans()):
        rows[k] += draw(st.lists(st.sampled_from(["x", "Smith", "7A", "=1+1"]), min_size=1, max_size=3))
        return BadFile(render(header, rows).encode(), k + 2, None, "too many fields")
    keep = draw(st.integers(1, len(COLUMNS[kind][0]) - 1))  # none at all is a blank row, which is skipped
    rows[k] = rows[k][:keep]
    return BadFile(render(header, rows).encode(), k + 2, header[keep], "too few fields")


def empty(draw: st.DrawFn, kind: str, records: list[dict[str, str]]) -> BadFile:
    content = draw(st.sampled_from([b"", codecs.BOM_UTF8, b"\n", b"\r\n\r\n"]))
    return BadFile(content, 1, None, f"empty {content!r}")


MUTATIONS: list[Mutation] = [latin1, utf16, missing_column, bad_value, huge_field, duplicate, field_count, empty]


@st.composite
def bad_files(draw: st.DrawFn, kind: str) -> BadFile:
    names = st.one_of(st.sampled_from(FORMULAS), st.from_regex(r"[A-Z][a-z]{1,12}", fullmatch=True))
    records = [valid_record(kind, i, draw(names)) for i in range(draw(st.integers(1, 4)))]
    bad = draw(st.sampled_from(MUTATIONS))(draw, kind, records)
    if bad.why not in {"utf-16", "utf-16-le", "utf-16-be"} and bad.content and draw(st.booleans()):
        bad.content = codecs.BOM_UTF8 + bad.content  # a BOM is fine and moves nothing
    return bad


def _assert_refused(app: App, kind: str, bad: BadFile, tmp_path: Path) -> None:
    """Through casework.imports.run_import, the CLI's own path: InputError is what exits 2 there (any
    other exception exits 1)."""
    path = tmp_path / f"{kind}-{next(_files)}.csv"
    path.write_bytes(bad.content)
    before = counts(app.url)
    with pytest.raises(InputError) as refused:
        run_import(app.sessions, kind, path, app.config, app.calendar, NOW)
    message = str(refused.value)
    assert message.startswith(f"{path}, row {bad.row}"), (bad.why, message)
    if bad.column is not None:
        assert f", column {bad.column!r}: " in message, (bad.why, message)
    assert counts(app.url) == before, bad.why


@pytest.mark.parametrize("kind", list(COLUMNS))
def test_malformed_import_is_refused_naming_where_and_stores_nothing(db: str, tmp_path: Path, kind: str) -> None:
    app = App(db_url=db, config_path=CONFIG)

    @BOUNDED
    @given(bad=bad_files(kind))
    def check(bad: BadFile) -> None:
        _assert_refused(app, kind, bad, tmp_path)

    try:
        check()
    finally:
        app.engine.dispose()


def test_a_malformed_import_exits_2_at_the_command_line(db: str, tmp_path: Path) -> None:
    path = tmp_path / "marks.csv"
    path.write_bytes(f"upn,date,session,code\n{SEEDED[0]},{SCHOOL_DAY},AM,/\n".encode("utf-16"))
    before = counts(db)
    result = cli(db, "import", "marks", str(path))
    assert (result.exit_code, result.stderr.split(": not UTF-8")[0]) == (2, f"error: {path}, row 1")
    assert counts(db) == before


# --- formulas are data, and every export neutralises them ----------------------------------------------
def test_a_formula_in_a_name_is_imported_as_text_and_exported_with_an_apostrophe(db: str, tmp_path: Path) -> None:
    upn, formula = make_upn(357, 4001, 27, 50), FORMULAS[0]
    pupils = tmp_path / "formula.csv"
    pupils.write_text(pupils_csv([(upn, formula)]), encoding="utf-8")
    assert cli(db, "import", "pupils", str(pupils)).exit_code == 0
    staff = tmp_path / "staff.csv"  # a staff id is data too: it reaches the chronology's staff column
    staff.write_text(f"staff_id,name,email,roles\n{csv_quote('=1+2')},Tutor,t@x.org,form_tutor\n", encoding="utf-8")
    assert cli(db, "import", "staff", str(staff)).exit_code == 0
    refused = cli(db, "register", "delete", upn, "--ground", "transfer", "--evidence", "letter", "--by", "=1+2")
    assert refused.exit_code == 2  # not the headteacher: refused, and the refusal is in the chronology
    engine = create_engine(db)
    with engine.begin() as c:
        pupil_id, given = c.execute(select(Pupil.id, Pupil.given_name).where(Pupil.upn == upn)).one()
        assert given == formula  # stored exactly as given
        entries = c.scalar(select(func.count()).select_from(ChronologyEntry).where(ChronologyEntry.pupil_id
                                                                                   == pupil_id))
        assert entries >= 1
        c.execute(ChronologyEntry.__table__.insert().values(  # a note that quotes the pupil's name
            at=c.scalar(select(ChronologyEntry.at).limit(1)), pupil_id=pupil_id, category="note",
            summary=f"{given} Lee", safeguarding=False))
    engine.dispose()

    chron = cli(db, "chronology", upn, "--format", "csv")
    assert chron.exit_code == 0, chron.output
    rows = list(csv.DictReader(io.StringIO(chron.stdout)))
    assert {r["staff"] for r in rows if r["staff"]} == {"'=1+2"}
    assert f"'{formula} Lee" in {r["summary"] for r in rows}

    out = tmp_path / "radar.csv"
    radar = cli(db, "radar", "--output", str(out), "--on", SCHOOL_DAY)
    assert radar.exit_code == 0, radar.output
    names = {r["Name"] for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))}
    assert f"'{formula} Lee" in names
    assert not any(n.startswith(("=", "+", "-", "@")) for n in names)


# --- config files ----------------------------------------------------------------------------------------
@functools.cache
def packaged() -> dict[str, Any]:
    return yaml.safe_load(Path(CONFIG).read_text(encoding="utf-8"))


def _fields(model: type[BaseModel], data: dict[str, Any], prefix: tuple[str, ...] = ()
            ) -> list[tuple[tuple[str, ...], bool]]:
    """(key path, required) for every key of the packaged config, from the models (parsing each
    variation to find out would cost a YAML load apiece)."""
    out = []
    for name, value in data.items():
        field = model.model_fields[name]
        path = (*prefix, name)
        out.append((path, field.is_required()))
        inner = _model_in(field.annotation)
        if inner is not None and isinstance(value, dict):
            out += _fields(inner, value, path)
        elif typing.get_origin(field.annotation) is dict and isinstance(value, dict):
            item = _model_in(typing.get_args(field.annotation)[1])
            if item is not None:
                out += [f for key, v in value.items() if isinstance(v, dict)
                        for f in _fields(item, v, (*path, key))]
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model of a field typed Model or Model | None."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    for candidate in (annotation, *(typing.get_args(annotation) if union else ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


@functools.cache
def config_keys() -> list[tuple[tuple[str, ...], bool]]:
    return _fields(Config, packaged())


def required_paths() -> list[tuple[str, ...]]:
    return [path for path, required in config_keys() if required]


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    data = copy.deepcopy(packaged())
    node = data
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return data


def _set(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(packaged())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


# No field takes either: a mapping with an unknown key holding a list of numbers, or a list of lists of
# mappings (not a number, time, text, flag, list of those, mapping of those or a section).
WRONG_TYPES = ({"wrong": [1]}, [[{"x": 1}]])


STAGES = ("stage_1", "monitor", "stage_2", "stage_3", "stage_4", "stage_5")


@dataclass
class BadConfig:
    text: str
    where: str  # a key path, or "line N" for YAML that does not parse


@st.composite
def bad_configs(draw: st.DrawFn) -> BadConfig:
    how = draw(st.sampled_from(["yaml", "type", "missing", "bands", "retention"]))
    if how == "yaml":
        good = yaml.safe_dump(packaged(), sort_keys=False).splitlines()
        line = draw(st.integers(0, len(good) - 1))
        junk = draw(st.sampled_from(["  - [unclosed", "key: {a: 1", "\tindent: tab", "- a\nb: c", ": : :"]))
        text = "\n".join(good[:line] + [junk] + good[line:]) + "\n"
        return BadConfig(text, "line ")
    if how == "type":
        path = draw(st.sampled_from([p for p, _ in config_keys()]))
        data = _set(path, draw(st.sampled_from(WRONG_TYPES)))
        return BadConfig(yaml.safe_dump(data, sort_keys=False), ".".join(path))
    if how == "missing":
        path = draw(st.sampled_from(required_paths()))
        return BadConfig(yaml.safe_dump(_without(path), sort_keys=False), ".".join(path))
    if how == "bands":
        i = draw(st.integers(0, len(STAGES) - 2))
        a, b = STAGES[i], STAGES[i + 1]
        data = copy.deepcopy(packaged())
        bands = data["policy"]["stages"]
        bands[a]["lower"], bands[b]["lower"] = bands[b]["lower"], bands[a]["lower"]
        return BadConfig(yaml.safe_dump(data, sort_keys=False), f"policy.stages.{b}.lower")
    value = draw(st.sampled_from([0, -6, "six", 2.5, None, [6]]))
    return BadConfig(yaml.safe_dump(_set(("data_protection", "retention_years"), value), sort_keys=False),
                     "data_protection.retention_years")


def test_malformed_config_exits_2_naming_the_key_and_stores_nothing(db: str, tmp_path: Path) -> None:
    @BOUNDED
    @given(bad=bad_configs())
    def check(bad: BadConfig) -> None:
        path = tmp_path / f"config-{next(_files)}.yaml"
        path.write_text(bad.text, encoding="utf-8")
        before = counts(db)
        result = cli(db, "init", config=str(path))
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"{path}: invalid config\n"), result.stderr
        assert bad.where in result.stderr, (bad.where, result.stderr)
        assert counts(db) == before

    check()


def test_generated_bad_configs_are_really_bad() -> None:
    """The strategies' own premise: the packaged config is valid, and required keys are required."""
    parse_config(packaged())
    assert ("policy", "stages", "stage_3", "lower") in required_paths()
    assert ("data_protection", "retention_years") not in required_paths()  # older configs still load
    assert ("delivery",) not in required_paths()
    without = _without(("data_protection",))
    assert parse_config(without).data_protection.retention_years >= 1
