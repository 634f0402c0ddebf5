"""Errors a user can act on. The CLI turns them into exit code 2 with the message as is."""
from __future__ import annotations


class InputError(Exception):
    """Bad input: names where (file, row, column) and what is wrong."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None):
        self.file, self.row, self.column = file, row, column
        where = ", ".join(p for p in (
            file, f"row {row}" if row is not None else None,
            f"column {column!r}" if column else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


class Refused(InputError):
    """An action the policy does not allow (e.g. authorising absence without the headteacher role)."""
