"""The one exception tree of hetplan: errors the CLI turns into a sentence and an exit code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from string import Formatter


class HetplanError(Exception):
    """Base of every error hetplan expects and can explain to a user."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in an input file: where it is and what is wrong.

    ``entry`` is the entry id (or ``line N`` for unreadable files), ``field`` the dotted field
    path; either may be empty when the problem concerns the whole file or entry.
    """

    file: str
    entry: str
    field: str
    message: str

    def __str__(self) -> str:
        parts = [self.file, _cut(self.entry), _cut(self.field), self.message]
        return ": ".join(p for p in parts if p)


MAX_NAME_CHARS = 120
"""The most of an entry or a field a problem line shows: they may come from the input (an
unknown key, a case id), which may hold anything."""


def _cut(text: str) -> str:
    return text if len(text) <= MAX_NAME_CHARS else text[: MAX_NAME_CHARS - 3] + "..."


class InputFileError(HetplanError, ValueError):
    """An input file is invalid; carries every problem found, one line each."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CatalogError(InputFileError):
    """A catalog directory or file is invalid."""


class ProblemError(InputFileError):
    """A provisioning problem file (or its capabilities CSV or overrides) is invalid."""


class SolverError(HetplanError, RuntimeError):
    """A solver backend failed in a way that is not an infeasibility verdict."""


class FieldError(HetplanError):
    """One input field the use case cannot take.

    ``message`` may name other fields as ``{field}`` placeholders, so that each front end can
    call every field by its own name (the CLI by its flag); ``str()`` uses the field names.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(self.text())

    def text(self, name: Callable[[str], str] = str) -> str:
        """``FIELD: message`` with every field called ``name(field)``."""
        names = {f: name(f) for _, f, _, _ in Formatter().parse(self.message) if f}
        return f"{name(self.field)}: {self.message.format_map(names)}"
