"""The one place that names an API field by its command-line flag."""

from __future__ import annotations

from optimizer.api import FieldError

_SPECIAL = {
    "accelerators": "--accelerator",
    "solution_files": "solution files",
    "plots_dir": "--out-dir",
    "cases_file": "CASES.csv",
    "overrides": "--set",
    "vary": "--vary",
    "name": "NAME",
}


def flag(field: str) -> str:
    """``tp`` → ``--tp``, ``input_tokens`` → ``--input-tokens``."""
    return _SPECIAL.get(field, "--" + field.replace("_", "-"))


def field_error_text(error: FieldError) -> str:
    """The error as the CLI user wrote it: every field named by its flag."""
    return error.text(flag)
