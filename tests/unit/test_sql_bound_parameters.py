"""Security (issue 9): SQL only through bound parameters. The engine builds queries with SQLAlchemy's select()
and friends; nowhere in the product may raw SQL be put together from strings (an f-string, `%`, `+` or
`.format` handed to text(), exec_driver_sql() or a DBAPI execute()), since a pupil's name or a CSV field
could then become SQL. Migrations (fixed DDL) are checked too."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("casework", "workflows", "notifications", "migrations")
RAW_SQL_CALLS = {"text", "exec_driver_sql", "execute", "executemany", "executescript"}


def _built(node: ast.expr) -> bool:
    """A string put together at run time rather than a literal (bound values are passed separately)."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return _stringy(node.left) or _stringy(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)
    return False


def _stringy(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def offending_calls(source: str) -> list[int]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in RAW_SQL_CALLS and _built(node.args[0]):
            out.append(node.lineno)
    return out


def test_no_raw_sql_is_built_from_strings_anywhere_in_the_product() -> None:
    found = {str(f.relative_to(ROOT)): lines for pkg in PRODUCT for f in sorted((ROOT / pkg).rglob("*.py"))
             if (lines := offending_calls(f.read_text(encoding="utf-8")))}
    assert found == {}


def test_the_check_sees_each_way_of_building_sql_from_strings() -> None:
    bad = ["text(f\"SELECT * FROM pupils WHERE upn = '{upn}'\")",
           "c.exec_driver_sql('DELETE FROM marks WHERE id = %s' % mark_id)",
           "cur.execute('SELECT ' + column + ' FROM pupils')",
           "text('SELECT * FROM t WHERE a = {}'.format(a))"]
    assert all(offending_calls(src) for src in bad)
    good = ['text("SELECT * FROM pupils WHERE upn = :upn").bindparams(upn=upn)', 'cur.execute(sql, params)',
            'session.execute(select(Pupil).where(Pupil.upn == upn))']
    assert not any(offending_calls(src) for src in good)
