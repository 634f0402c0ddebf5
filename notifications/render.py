"""Rendering letters: pure, `render(letter_id, context) -> (html, text)`, plus the SMS short form.

templates/letters/<id>.html.j2 is the letter as printed (and the HTML part of an email); <id>.txt.j2 its
plain-text twin; <id>.sms.j2 the short form, for letters that go by SMS. StrictUndefined: a field the
context lacks is an error at render time, never a blank in a letter to a parent.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from casework.config import resource_dir

SMS_MAX = 306  # two concatenated SMS parts: a short form must never become a long message


class Rendered(NamedTuple):
    html: str
    text: str


def _autoescape(name: str | None) -> bool:
    # names end in .j2, so Jinja's select_autoescape (by extension) would not escape .html.j2
    return bool(name) and str(name).endswith((".html.j2", ".xml.j2"))


@cache
def environment(root: str | None = None) -> Environment:
    """One Jinja environment per templates folder (default: the project's templates/)."""
    folder = Path(root) if root else resource_dir("templates")
    return Environment(loader=FileSystemLoader(str(folder)), undefined=StrictUndefined,
                       autoescape=_autoescape, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def template_exists(name: str) -> bool:
    return name in environment().list_templates()


def render(letter_id: str, context: dict[str, Any]) -> Rendered:
    env = environment()
    html = env.get_template(f"letters/{letter_id}.html.j2").render(context)
    text = env.get_template(f"letters/{letter_id}.txt.j2").render(context)
    return Rendered(html, _tidy(text))


def render_sms(letter_id: str, context: dict[str, Any]) -> str:
    """The SMS short form: one line, collapsed whitespace, at most two SMS parts."""
    body = " ".join(environment().get_template(f"letters/{letter_id}.sms.j2").render(context).split())
    if len(body) > SMS_MAX:
        raise ValueError(f"{letter_id}: SMS text is {len(body)} characters, more than {SMS_MAX}")
    return body


def render_export(name: str, context: dict[str, Any]) -> str:
    """An export document (templates/exports/<name>.html.j2): chronology, evidence pack, LA share."""
    return environment().get_template(f"exports/{name}.html.j2").render(context)


def _tidy(text: str) -> str:
    """Plain text: no trailing spaces, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n") + "\n"
