"""Unique pupil numbers (DfE): a check letter followed by 12 characters.

Permanent UPN: check letter + LA code (3) + establishment (4) + year (2) + serial (3), all digits.
Temporary UPN: the same, with the last character a letter. The check letter is the sum of each of
characters 2-13 times its position (2..13), mod 23, as a letter of CHECK_LETTERS; in a temporary UPN the
final letter counts as its index in CHECK_LETTERS.
"""
from __future__ import annotations

CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # 23 letters: no I, O or S


def check_letter(body: str) -> str:
    """The check letter for the 12 characters after it."""
    if len(body) != 12 or not body[:11].isdigit():
        raise ValueError("a UPN body is 11 digits and a digit or letter")
    last = body[11]
    values = [int(c) for c in body[:11]] + [int(last) if last.isdigit() else CHECK_LETTERS.index(last)]
    return CHECK_LETTERS[sum(v * (i + 2) for i, v in enumerate(values)) % 23]


def upn_problem(upn: str) -> str | None:
    """None if `upn` is a valid permanent or temporary UPN, else what is wrong with it."""
    if len(upn) != 13:
        return f"a UPN has 13 characters, {upn!r} has {len(upn)}"
    head, body = upn[0], upn[1:]
    if not body[:11].isdigit():
        return f"characters 2-12 of a UPN are digits: {upn!r}"
    if not (body[11].isdigit() or body[11] in CHECK_LETTERS):
        return f"the last character of a UPN is a digit or (temporary UPN) a letter other than I, O, S: {upn!r}"
    expected = check_letter(body)
    if head != expected:
        return f"check letter of {upn!r} should be {expected!r}"
    return None


def make_upn(la: int, establishment: int, year: int, serial: int, temporary_letter: str | None = None) -> str:
    body = f"{la:03d}{establishment:04d}{year % 100:02d}{serial:03d}"
    if temporary_letter:
        body = body[:11] + temporary_letter
    return check_letter(body) + body
