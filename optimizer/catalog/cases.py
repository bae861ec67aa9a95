"""Calibration cases: published (or a user's own) measurements in the calibration CSV format.

Columns are those of ``catalogs/measurements/published.csv`` (see its README). Read with the
standard library so that ``hetplan calibrate`` starts fast; every bad cell is reported as
``FILE: CASE_ID: COLUMN: message``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from optimizer.catalog.base import MAX_COUNT, MAX_QUANTITY
from optimizer.catalog.loader import UnreadableFileError, read_input
from optimizer.errors import CatalogError, Problem

COLUMNS = (
    "case_id", "source", "model", "accelerator", "accelerators", "precision_weights",
    "precision_kv", "tp", "pp", "instances", "scenario", "input_tokens", "output_tokens",
    "batch", "metric", "value", "unit", "notes",
)  # fmt: skip
OPTIONAL_COLUMNS = (
    "grade", "ep", "ttft_slo_ms", "tpot_slo_ms", "power_cap_w", "throughput_output_tokens_per_s",
    "context_tokens", "engine", "dp",
)  # fmt: skip
"""Read when present: power.csv has no SLO or EP columns, published.csv no power columns."""
SCENARIOS = ("offline", "server", "interactive", "single-request", "microbench")
_SCENARIO_WORDS = (("offline", "offline"), ("server", "server"), ("online", "server"))
"""A scenario written in words (power.csv: "MLPerf offline; …", "online serving, vLLM, …")
is the first of these words it contains."""
_INTS = ("accelerators", "tp", "pp", "ep", "instances", "dp")
_FLOATS = (
    "input_tokens", "output_tokens", "batch", "ttft_slo_ms", "tpot_slo_ms", "power_cap_w",
    "throughput_output_tokens_per_s", "context_tokens",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Case:
    """One measurement; ``None`` where the source does not state a field."""

    case_id: str
    source: str
    model: str
    accelerator: str
    accelerators: int | None
    precision_weights: str | None
    precision_kv: str | None
    tp: int | None
    pp: int | None
    ep: int | None
    instances: int | None
    scenario: str
    input_tokens: float | None
    output_tokens: float | None
    batch: float | None  # a measured mean batch may be fractional
    ttft_slo_ms: float | None
    tpot_slo_ms: float | None
    metric: str
    value: float
    unit: str
    notes: str
    power_cap_w: float | None = None  # per device, where the submitter set one
    throughput_output_tokens_per_s: float | None = None  # of the whole configuration
    context_tokens: float | None = None  # a decode step's KV length, for rows that give it alone
    engine: str | None = None  # the serving engine's catalog id (trtllm, vllm, ...), if known
    dp: int | None = None  # attention data-parallel ranks per replica (blank: 1)


def source_group(source: str) -> str:
    """The publisher-and-round a measurement comes from, for leave-one-source-out validation:
    a repository's name (a fork counts as its upstream: ``inference_results_v4.1`` is one MLPerf
    round, ``TensorRT-LLM`` the TensorRT-LLM performance tables, ``splitwise-sim`` the Splitwise
    profiles), else the site and first path segment (``arxiv.org/abs``)."""
    parts = source.split("://", 1)[-1].split("/")
    if parts[0] == "github.com" and len(parts) >= 3:
        return parts[2].split("@", 1)[0].split(":", 1)[0]
    return "/".join(parts[:2])


def _quoted(text: str, most: int = 40) -> str:
    """A cell as it appears in a message: quoted and cut to ``most`` characters."""
    return repr(text) if len(text) <= most else repr(text[:most]) + "..."


def _number(text: str, kind, column: str, case_id: str, file: str, problems: list[Problem]):
    """A cell as a whole number in [1, MAX_COUNT] (``kind`` int) or a finite number in [0,
    MAX_QUANTITY] (``value``: above 0); None for an empty cell or with the problem added."""
    if text.strip() == "":
        return None
    why = _out_of_range(text, kind is int, is_positive=kind is int or column == "value")
    if why is not None:
        problems.append(Problem(file, case_id, column, f"{why}, got {_quoted(text)}"))
        return None
    return int(float(text)) if kind is int else float(text)


def _out_of_range(text: str, is_whole: bool, *, is_positive: bool) -> str | None:
    """Why ``text`` is not a number of the kind and range asked for, or None."""
    try:
        number = float(text)
    except ValueError:
        return "must be a whole number" if is_whole else "must be a number"
    if not math.isfinite(number):
        return "must be a finite number"
    if is_whole and not number.is_integer():
        return "must be a whole number"
    most = f"{MAX_COUNT:,}" if is_whole else f"{MAX_QUANTITY:g}"
    if number > (MAX_COUNT if is_whole else MAX_QUANTITY):
        return f"must be at most {most}"
    if number < 0 or (is_positive and number == 0):
        return "must be positive" if is_positive else "must be positive or 0"
    return None


def _scenario(text: str) -> str:
    if text in SCENARIOS:
        return text
    lowered = text.lower()
    return next((name for word, name in _SCENARIO_WORDS if word in lowered), text)


def load_cases(path: str | Path) -> list[Case]:
    """Every row of a calibration CSV.

    Raises:
        CatalogError: one problem per bad cell (or a missing column, or an unreadable file).
    """
    path = Path(path)
    name = str(path)
    try:
        text = read_input(path).decode("utf-8")
    except UnreadableFileError as exc:
        raise CatalogError([Problem(name, "", "", str(exc))]) from None
    except UnicodeDecodeError as exc:
        raise CatalogError([Problem(name, "", "", f"not UTF-8 text (byte {exc.start})")]) from None
    reader = csv.DictReader(text.splitlines())
    try:
        return _read_rows(reader, name)
    except csv.Error as exc:  # a cell above csv.field_size_limit(), a NUL byte
        line = f"line {reader.line_num}"
        raise CatalogError([Problem(name, line, "", f"not valid CSV: {exc}")]) from None


def _read_rows(reader: csv.DictReader, name: str) -> list[Case]:
    """The cases of every row after the header; every bad cell is one problem."""
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise CatalogError([Problem(name, "", "", f"missing columns: {', '.join(missing)}")])
    problems: list[Problem] = []
    cases: list[Case] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        case_id = (row["case_id"] or "").strip() or f"line {line}"
        if case_id in seen:
            problems.append(Problem(name, case_id, "case_id", "duplicate case id"))
        seen.add(case_id)
        cells = {c: row.get(c) or "" for c in (*_INTS, *_FLOATS)}  # optional ones may be absent
        nums = {c: _number(cells[c], int, c, case_id, name, problems) for c in _INTS}
        nums |= {c: _number(cells[c], float, c, case_id, name, problems) for c in _FLOATS}
        value = _number(row["value"] or "", float, "value", case_id, name, problems)
        if value is None and (row["value"] or "").strip() == "":
            problems.append(Problem(name, case_id, "value", "required"))
        scenario = _scenario((row["scenario"] or "").strip())
        if scenario not in SCENARIOS:
            problems.append(
                Problem(name, case_id, "scenario", f"must be one of {', '.join(SCENARIOS)}, "
                        f"got {scenario!r}")
            )  # fmt: skip
        for column in ("model", "accelerator", "metric"):
            if not (row[column] or "").strip():
                problems.append(Problem(name, case_id, column, "required"))
        if problems:
            continue
        cases.append(
            Case(
                case_id=case_id,
                source=row["source"] or "",
                model=row["model"].strip(),
                accelerator=row["accelerator"].strip(),
                precision_weights=(row["precision_weights"] or "").strip() or None,
                precision_kv=(row["precision_kv"] or "").strip() or None,
                scenario=scenario,
                metric=row["metric"].strip(),
                value=value,
                unit=row["unit"] or "",
                notes=row["notes"] or "",
                engine=(row.get("engine") or "").strip() or None,
                **nums,
            )
        )
    if not cases and not problems:
        problems.append(Problem(name, "", "", "holds no rows after the header"))
    if problems:
        raise CatalogError(problems)
    return cases
