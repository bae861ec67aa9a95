"""Load a provisioning problem file: its schema, its catalog (bundled, ``[catalog] dirs`` and
inline entries), its measured capabilities as arrays, and the checks between them.

Every problem found is collected and raised as one :class:`ProblemError`, one
``FILE: ENTRY: FIELD: message`` line each.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import TypeAdapter, ValidationError

from optimizer.catalog.catalog import Catalog
from optimizer.catalog.economics import Economics
from optimizer.catalog.hardware import Attachment
from optimizer.catalog.kinds import KIND_BY_TABLE
from optimizer.catalog.loader import (
    InlineEntries,
    UnreadableFileError,
    display_path,
    field_message,
    load_catalog,
    read_input,
    read_toml,
)
from optimizer.catalog.precision import Precision
from optimizer.catalog.problem_spec import (
    Capability,
    CatalogSection,
    Measured,
    MeasuredInstance,
    ObjectiveKind,
    Pricing,
    ProblemSpec,
    Serve,
    Styles,
)
from optimizer.errors import CatalogError, Problem, ProblemError

MIX_SUM_TOLERANCE = 1e-6  # how far the shares of a request mix may sum away from 1
CSV_REQUIRED = ("instance", "usd_per_hour", "class", "max_requests_per_s")
CSV_OPTIONAL = ("power_w", "idle_w", "devices", "accelerator")
_ON_DEVICE = (Attachment.ON_PACKAGE, Attachment.ON_BOARD)  # the device's own memory, no tier
_RATE = TypeAdapter(Capability)


@dataclass(frozen=True, slots=True)
class MeasuredTable:
    """Measured capabilities of a ``[measured]`` problem as read-only arrays.

    Classes are indexed k, instance types i.
    """

    class_names: tuple[str, ...]
    requests_per_s: np.ndarray  # [k] λ_k
    instance_names: tuple[str, ...]
    usd_per_hour: np.ndarray  # [i]
    power_w: np.ndarray  # [i] busy IT power; NaN when not given
    idle_w: np.ndarray  # [i] idle IT power; NaN when not given
    devices: np.ndarray  # [i] accelerators per instance (int)
    group: tuple[str, ...]  # [i] availability group: the accelerator, else the instance name
    capability: np.ndarray  # [i, k] requests/s one instance sustains at the SLOs; 0 = cannot


@dataclass(frozen=True, slots=True)
class LoadedProblem:
    """A validated problem with everything the fleet builder needs.

    ``fingerprint`` (16 hex digits) is a SHA-256 over the problem file's bytes, the applied
    overrides and the capabilities CSV, so results can say which input they solved.
    """

    path: Path
    spec: ProblemSpec
    catalog: Catalog
    economics: Economics
    measured: MeasuredTable | None
    fingerprint: str

    def requests_per_s(self, serve: Serve) -> float:
        """Request rate of one served class: as given, or sessions/s × the workload's mean
        turns per session (each turn is one request)."""
        return serve.rate(self.catalog.workloads[serve.workload].turns_per_session.mean)


def load_problem(
    path: str | Path,
    overrides: Mapping[str, str] | None = None,
    catalog_dirs: Sequence[str | Path] = (),
    *,
    allow_outside_paths: bool = False,
) -> LoadedProblem:
    """Read, validate and cross-check one problem TOML file.

    Args:
        path: the problem file; ``[catalog] dirs`` and ``capabilities_csv`` are relative to it.
        overrides: dotted keys to values (``{"objective.kind": "energy"}``), applied to the file's
            tables before validation. A value is read as TOML when it parses (``4``, ``true``,
            ``["b200"]``), else as a string; missing tables are created; ``serve.0.name``
            indexes an array of tables.
        catalog_dirs: the user's catalog directories, loaded on top of the bundled catalog and
            under the problem's own ``[catalog]`` dirs and inline entries.
        allow_outside_paths: let ``[catalog] dirs`` and ``capabilities_csv`` name files outside
            the problem file's directory and the working directory (symlinks resolved); by
            default such a path is a problem, so a problem file cannot make hetplan read
            ``/etc/passwd`` or ``../../secrets``.

    Returns:
        The problem with its merged catalog, economics profile and measured table.

    Raises:
        ProblemError: one ``FILE: ENTRY: FIELD: message`` problem per line; an override's
            problems name it (``override objective.kindd: unknown key``).
    """
    path = Path(path)
    name = display_path(path)
    problems: list[Problem] = []
    roots = None if allow_outside_paths else _roots(path)
    read = read_toml(path, name, problems)
    if read is None:
        raise ProblemError(problems)
    raw_bytes, data = read
    digest = hashlib.sha256(raw_bytes)
    applied = _apply_overrides(data, overrides or {}, name, problems, digest)
    spec = _validate_spec(data, applied, name, problems)
    section = spec.catalog if spec is not None else _catalog_section(data)
    catalog = (
        _load_catalog(section, path, name, problems, catalog_dirs, roots)
        if section is not None
        else None
    )
    measured = None
    if spec is not None and spec.measured is not None:
        measured = _measured_table(spec.measured, path, name, problems, digest, roots)
    if spec is not None and catalog is not None:
        problems.extend(_cross_check(spec, catalog, measured, name))
    if problems:
        raise ProblemError(problems)
    return LoadedProblem(
        path=path,
        spec=spec,
        catalog=catalog,
        economics=catalog.economics[spec.objective.economics],
        measured=measured,
        fingerprint=digest.hexdigest()[:16],
    )


# --- overrides and schema ---------------------------------------------------------------------


def _apply_overrides(data: dict, overrides, name: str, problems: list[Problem], digest):
    """Set each dotted key in ``data``; return (label, loc) of each applied one."""
    applied: list[tuple[str, tuple]] = []
    for key, text in overrides.items():
        label = f"override {key}"
        value = _override_value(str(text))
        loc, why = _set_dotted(data, key.split("."), value)
        if why is not None:
            problems.append(Problem(name, label, "", why))
            continue
        applied.append((label, loc))
        digest.update(f"\0{key}={text}".encode(errors="surrogatepass"))  # argv may hold any
    return applied


def _override_value(text: str):
    """``text`` read as a TOML value when it is one (``4``, ``true``, ``[1, 2]``), else as is."""
    try:
        parsed = tomllib.loads(f"v = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):
        return text
    return parsed["v"] if parsed.keys() == {"v"} else text


def _set_dotted(data: dict, parts: list[str], value) -> tuple[tuple, str | None]:
    """Set ``data[parts[0]][parts[1]]...`` to value; the pydantic-style loc or why it cannot."""
    if not all(parts):
        return (), "empty key part; write dotted keys like objective.kind"
    node = data
    loc: list[str | int] = []
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth])
        if isinstance(node, list):
            if not (part.isdecimal() and int(part) < len(node)):
                return (), f"{where} holds {len(node)} entries; {part!r} is not an index of one"
            step: str | int = int(part)
        elif isinstance(node, dict):
            step = part
        else:
            return (), f"{where} is not a table, got {node!r}"
        loc.append(step)
        if depth == len(parts) - 1:
            node[step] = value
        else:
            if isinstance(node, dict):
                node.setdefault(step, {})
            node = node[step]
    return tuple(loc), None


def _validate_spec(data: dict, applied, name: str, problems: list[Problem]):
    try:
        return ProblemSpec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            entry, rest = _locate(tuple(error["loc"]), data, applied)
            problems.append(Problem(name, entry, *field_message({**error, "loc": rest})))
        return None


def _locate(loc: tuple, data: dict, applied) -> tuple[str, tuple]:
    """The entry a pydantic loc points into (an override, a serve, a section) and the rest."""
    for label, override in reversed(applied):
        if loc[: len(override)] == override:
            return label, loc[len(override) :]
    if len(loc) > 1 and loc[0] == "serve" and isinstance(loc[1], int):
        return _item_label(data.get("serve"), loc[1], "serve"), loc[2:]
    arrays = {"measured": ("instances", "classes"), "catalog": tuple(KIND_BY_TABLE)}
    if len(loc) > 2 and loc[1] in arrays.get(loc[0], ()) and isinstance(loc[2], int):
        section = data.get(loc[0])
        items = section.get(loc[1]) if isinstance(section, dict) else None
        return _item_label(items, loc[2], f"{loc[0]}.{loc[1]}"), loc[3:]
    return (str(loc[0]), loc[1:]) if loc else ("", ())


def _item_label(items, index: int, prefix: str) -> str:
    """An array item's ``name`` (or ``id``) when it has one, else ``prefix[index]``."""
    item = items[index] if isinstance(items, list) and index < len(items) else None
    if isinstance(item, dict):
        for key in ("name", "id"):
            if isinstance(item.get(key), str) and item[key]:
                return item[key]
    return f"{prefix}[{index}]"


def _catalog_section(data: dict) -> CatalogSection | None:
    """The ``[catalog]`` table alone, to load inline entries when another section is invalid."""
    try:
        return CatalogSection.model_validate(data.get("catalog", {}))
    except ValidationError:
        return None  # already reported by the whole-file validation


# --- catalog ----------------------------------------------------------------------------------


def _roots(path: Path) -> tuple[Path, ...]:
    """The directories a problem file's own paths may point into: its directory and the
    working directory, symlinks resolved."""
    try:
        return (path.parent.resolve(), Path.cwd().resolve())
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return ()


def _outside(target: Path, given: str, roots: tuple[Path, ...] | None) -> str | None:
    """Why a path written in the problem file may not be read, or None when it may: it must
    resolve into one of ``roots`` (None: anywhere)."""
    if roots is None:
        return None
    try:
        real = target.resolve()
    except (OSError, RuntimeError):
        return f"{given!r} cannot be resolved (a symlink loop?)"
    if any(real.is_relative_to(root) for root in roots):
        return None
    return (
        f"{given!r} is outside the problem file's directory and the working directory; "
        "pass --allow-outside-paths to read it"
    )


def _load_catalog(
    section: CatalogSection, path: Path, name: str, problems: list[Problem], user_dirs, roots
) -> Catalog | None:
    dirs = [path.parent / d for d in section.dirs]
    refused = [(d, s) for d, s in zip(dirs, section.dirs, strict=True) if not d.is_dir()]
    for directory, given in refused:
        why = f"no such directory {given!r} (looked in {directory})"
        problems.append(Problem(name, "catalog", "dirs", why))
    for directory, given in zip(dirs, section.dirs, strict=True):
        why = _outside(directory, given, roots)
        if why is not None:
            refused.append((directory, given))
            problems.append(Problem(name, "catalog", "dirs", why))
    if refused:
        return None
    tables = {t: getattr(section, t) for t in KIND_BY_TABLE if getattr(section, t)}
    inline = InlineEntries(name, tables, prefix="catalog.") if tables else None
    try:
        return load_catalog(*user_dirs, *dirs, extra_entries=inline)
    except CatalogError as error:
        problems.extend(error.problems)
        return None


def _unknown(kind: str, ref: str, known) -> str:
    return f"unknown {kind} id {ref!r}; known: {', '.join(sorted(known)) or 'none'}"


def _cross_check(
    spec: ProblemSpec, catalog: Catalog, measured: MeasuredTable | None, name: str
) -> Iterator[Problem]:
    """References from the problem into the catalog, and what the objective needs."""
    if spec.objective.economics not in catalog.economics:
        why = _unknown("economics", spec.objective.economics, catalog.economics)
        yield Problem(name, "objective", "economics", why)
    if spec.measured is None:
        for position, serve in enumerate(spec.serve):
            label = serve.name or f"serve[{position}]"
            if serve.model not in catalog.models:
                yield Problem(name, label, "model", _unknown("model", serve.model, catalog.models))
            if serve.workload not in catalog.workloads:
                why = _unknown("workload", serve.workload, catalog.workloads)
                yield Problem(name, label, "workload", why)
        yield from _check_styles(spec.styles, catalog, name)
        groups, what = catalog.accelerators, "accelerator"
    elif measured is None:
        return  # the measured table's own problems are reported
    else:
        groups, what = set(measured.group), "instance group"
        yield from _check_power(spec, measured, name)
    for key in spec.constraints.devices:
        if key not in groups:
            yield Problem(name, "constraints", f"devices.{key}", _unknown(what, key, groups))


def _check_styles(styles: Styles, catalog: Catalog, name: str) -> Iterator[Problem]:
    accelerators = catalog.accelerators
    for field in ("accelerators", "exclude_accelerators"):
        for ref in getattr(styles, field) or ():
            if ref not in accelerators:
                yield Problem(name, "styles", field, _unknown("accelerator", ref, accelerators))
    if styles.engine is not None and styles.engine not in catalog.engines:
        yield Problem(name, "styles", "engine", _unknown("engine", styles.engine, catalog.engines))
    tiers = {i: m for i, m in catalog.memory.items() if m.attach not in _ON_DEVICE}
    for ref in styles.tiers or ():
        if ref in catalog.memory and ref not in tiers:
            attach = catalog.memory[ref].attach.value
            why = f"{ref!r} is {attach} memory, not a tier; tiers: {', '.join(sorted(tiers))}"
            yield Problem(name, "styles", "tiers", why)
        elif ref not in tiers:
            yield Problem(name, "styles", "tiers", _unknown("memory", ref, tiers))
    known = [p.value for p in Precision]
    given = [("precisions", p) for p in styles.precisions]
    given += [("kv_precision", styles.kv_precision)] if styles.kv_precision else []
    for field, value in given:
        if value.lower() not in known:
            why = f"unknown precision {value!r}; use one of {', '.join(known)}"
            yield Problem(name, "styles", field, why)


def _check_power(spec: ProblemSpec, measured: MeasuredTable, name: str) -> Iterator[Problem]:
    """Energy enters the objective for energy and weighted kinds, and for owned pricing, which
    bills electricity on top of the hardware rate, and power limits count it: then every
    instance needs its power."""
    limits = spec.constraints
    if spec.objective.kind is not ObjectiveKind.COST:
        why = "required for an energy objective"
    elif limits.power_budget_kw is not None or limits.racks is not None:
        why = "required with a power budget or racks (an instance without it counts as 0 W)"
    elif spec.objective.pricing is Pricing.OWNED:
        why = "required with pricing = 'owned' (energy is billed); or use pricing = 'cloud'"
    else:
        return
    for instance, power_w in zip(measured.instance_names, measured.power_w, strict=True):
        if np.isnan(power_w):
            yield Problem(name, instance, "power_w", why)


# --- measured capabilities --------------------------------------------------------------------


def _measured_table(
    measured: Measured, path: Path, name: str, problems: list[Problem], digest, roots
) -> MeasuredTable | None:
    n_before = len(problems)
    class_names, rates, cells = _classes(measured, name, problems)
    if measured.capabilities_csv is not None:
        csv_path = path.parent / measured.capabilities_csv
        outside = _outside(csv_path, measured.capabilities_csv, roots)
        if outside is not None:
            problems.append(Problem(name, "measured", "capabilities_csv", outside))
            return None
        instances, capability = _read_csv(csv_path, class_names, name, problems, digest)
    else:
        instances = measured.instances
        capability = [_inline_capability(i, measured, cells, name, problems) for i in instances]
        seen: dict[str, int] = {}
        for position, instance in enumerate(instances):
            first = seen.setdefault(instance.name, position)
            if first != position:
                why = f"duplicate instance name, first at measured.instances[{first}]"
                problems.append(Problem(name, f"measured.instances[{position}]", "name", why))
    if len(problems) > n_before:
        return None
    return MeasuredTable(
        class_names=tuple(class_names),
        requests_per_s=_frozen(rates, float),
        instance_names=tuple(i.name for i in instances),
        usd_per_hour=_frozen([i.usd_per_hour for i in instances], float),
        power_w=_frozen([_or_nan(i.power_w) for i in instances], float),
        idle_w=_frozen([_or_nan(i.idle_w) for i in instances], float),
        devices=_frozen([i.devices for i in instances], int),
        group=tuple(i.accelerator or i.name for i in instances),
        capability=_frozen(capability, float),
    )


def _frozen(values, dtype) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.setflags(write=False)
    return array


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _classes(measured: Measured, name: str, problems: list[Problem]):
    """Class names, rates (requests/s) and, for a mix, the (row, column) cell of each class."""
    if measured.mix is None:
        names = [c.name for c in measured.classes]
        for position, cls in enumerate(measured.classes):
            if names.index(cls.name) != position:
                why = f"duplicate class name, first at measured.classes[{names.index(cls.name)}]"
                problems.append(Problem(name, f"measured.classes[{position}]", "name", why))
        return names, [c.requests_per_s for c in measured.classes], None
    mix = measured.mix
    widths = sorted({len(row) for row in mix})
    if len(widths) > 1:
        why = f"rows must have equal length, got lengths {[len(row) for row in mix]}"
        problems.append(Problem(name, "measured", "mix", why))
    total = sum(map(sum, mix))
    if abs(total - 1.0) > MIX_SUM_TOLERANCE:
        why = f"shares must sum to 1 (within {MIX_SUM_TOLERANCE:g}), got {total:.9g}"
        problems.append(Problem(name, "measured", "mix", why))
    cells = [(r, c) for r, row in enumerate(mix) for c, share in enumerate(row) if share > 0]
    names = [f"in{r}-out{c}" for r, c in cells]
    return names, [mix[r][c] * measured.requests_per_s for r, c in cells], cells


def _shape(rows) -> str:
    widths = [len(row) for row in rows]
    if len(set(widths)) > 1:
        return f"rows of lengths {widths}"
    return f"{len(rows)}×{widths[0] if widths else 0}"


def _inline_capability(
    instance: MeasuredInstance, measured: Measured, cells, name: str, problems: list[Problem]
) -> list[float]:
    """One instance's requests/s per class, in class order."""
    caps = instance.capabilities
    if caps is None:
        problems.append(Problem(name, instance.name, "capabilities", "required field missing"))
        return []
    if cells is None:
        n_classes = len(measured.classes)
        if len(caps) != 1 or len(caps[0]) != n_classes:
            why = f"must give one number per class ({n_classes}), got {_shape(caps)}"
            problems.append(Problem(name, instance.name, "capabilities", why))
            return []
        return list(caps[0])
    if len({len(row) for row in measured.mix}) > 1:
        return []  # a ragged mix is reported once, and gives no shape to compare with
    if _shape(caps) != _shape(measured.mix):
        why = f"must have the mix's shape {_shape(measured.mix)}, got {_shape(caps)}"
        problems.append(Problem(name, instance.name, "capabilities", why))
        return []
    return [caps[r][c] for r, c in cells]


def _read_csv(
    csv_path: Path, class_names: list[str], name: str, problems: list[Problem], digest
) -> tuple[list[MeasuredInstance], list[list[float]]]:
    """Instances and their capabilities from ``capabilities_csv``, one row per (instance,
    class); a pair without a row means the instance cannot serve that class (0 requests/s)."""
    file = display_path(csv_path)
    try:
        raw = read_input(csv_path)
        text = raw.decode("utf-8-sig")  # tolerate the BOM spreadsheet exports write
    except UnreadableFileError as exc:
        why = f"{file}: {exc} (paths are relative to the problem file)"
        problems.append(Problem(name, "measured", "capabilities_csv", why))
        return [], []
    except UnicodeDecodeError as exc:
        problems.append(Problem(file, "", "", f"not UTF-8 text (byte {exc.start})"))
        return [], []
    digest.update(b"\0csv\0" + raw)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    n_before = len(problems)
    instances: dict[str, tuple[int, MeasuredInstance]] = {}
    rates: dict[tuple[str, str], tuple[int, float]] = {}
    try:
        if not _check_header(reader, file, problems):
            return [], []
        for row in reader:
            _read_row(row, reader.line_num, class_names, file, problems, instances, rates)
    except csv.Error as exc:
        problems.append(Problem(file, f"line {reader.line_num}", "", f"not valid CSV: {exc}"))
    if not instances and len(problems) == n_before:
        problems.append(Problem(file, "", "", "holds no instance rows"))
    if len(problems) > n_before:
        return [], []
    table = [[rates.get((i, k), (0, 0.0))[1] for k in class_names] for i in instances]
    return [instance for _, instance in instances.values()], table


def _check_header(reader: csv.DictReader, file: str, problems: list[Problem]) -> bool:
    header = reader.fieldnames
    if not header:
        why = f"empty file; the first line names the columns {', '.join(CSV_REQUIRED)}"
        problems.append(Problem(file, "", "", why))
        return False
    reader.fieldnames = [column.strip() for column in header]
    if not set(reader.fieldnames) & set(CSV_REQUIRED):  # another kind of file: quote none of it
        why = f"not a capabilities CSV: its first line names none of {', '.join(CSV_REQUIRED)}"
        problems.append(Problem(file, "line 1", "", why))
        return False
    n_before = len(problems)
    for position, column in enumerate(reader.fieldnames):
        if not column:
            problems.append(Problem(file, "line 1", "", "empty column name (a trailing comma?)"))
        elif column not in CSV_REQUIRED + CSV_OPTIONAL:
            why = f"unknown column; expected {', '.join(CSV_REQUIRED + CSV_OPTIONAL)}"
            problems.append(Problem(file, "line 1", column, why))
        elif column in reader.fieldnames[:position]:
            problems.append(Problem(file, "line 1", column, "duplicate column"))
    for column in CSV_REQUIRED:
        if column not in reader.fieldnames:
            problems.append(Problem(file, "line 1", column, "required column missing"))
    return len(problems) == n_before


def _read_row(row: dict, line: int, class_names, file: str, problems, instances, rates) -> None:
    """Validate one CSV row and record its instance constants and its capability."""
    where = f"line {line}"
    if None in row:
        why = f"{len(row[None])} more field(s) than the header names"
        problems.append(Problem(file, where, "", why))
        return
    cells = {column: (value or "").strip() for column, value in row.items()}
    for column in CSV_REQUIRED:
        if not cells[column]:
            problems.append(Problem(file, where, column, "required value missing"))
    if any(not cells[c] for c in CSV_REQUIRED):
        return
    constants = {c: cells[c] for c in ("usd_per_hour", *CSV_OPTIONAL) if cells.get(c)}
    try:
        row_data = {"name": cells["instance"], **constants}
        instance = MeasuredInstance.model_validate(row_data, strict=False)  # CSV has only text
    except ValidationError as exc:
        for error in exc.errors():
            field, message = field_message(error)
            column = "instance" if field == "name" else field
            problems.append(Problem(file, where, column, message))
        instance = None
    try:
        rate = _RATE.validate_python(cells["max_requests_per_s"], strict=False)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(Problem(file, where, "max_requests_per_s", field_message(error)[1]))
        rate = None
    class_name = cells["class"]
    if class_name not in class_names:
        why = f"unknown class {class_name!r}; classes: {', '.join(class_names)}"
        problems.append(Problem(file, where, "class", why))
    if instance is None or rate is None or class_name not in class_names:
        return
    first_line, first = instances.setdefault(instance.name, (line, instance))
    for field in ("usd_per_hour", *CSV_OPTIONAL):
        before, now = getattr(first, field), getattr(instance, field)
        if before != now:
            why = f"differs from line {first_line} for instance {instance.name!r} ({before})"
            problems.append(Problem(file, where, field, f"{why}, got {now}"))
    pair = (instance.name, class_name)
    if pair in rates:
        why = f"second row for instance {instance.name!r}, first on line {rates[pair][0]}"
        problems.append(Problem(file, where, "class", why))
    rates.setdefault(pair, (line, rate))
