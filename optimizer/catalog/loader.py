"""Read catalog directories into a :class:`Catalog`, collecting every problem before failing.

A directory holds ``*.toml`` files; each file may contain any of the ``[[accelerator]]``,
``[[memory]]``, ``[[interconnect]]``, ``[[system]]``, ``[[model]]``, ``[[workload]]`` and
``[[economics]]`` tables. User directories load on top of the bundled catalog: a user entry
with a bundled id replaces it (an *override*).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
import tomllib
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from optimizer.catalog.base import ID_PATTERN, Entry
from optimizer.catalog.catalog import Catalog, Origin, Record
from optimizer.catalog.checks import check_catalog
from optimizer.catalog.kinds import KIND_BY_TABLE, Kind
from optimizer.errors import CatalogError, Problem

MAX_INPUT_BYTES = 16 * 2**20
"""The most hetplan reads of any one input file (catalog, problem, efficiency TOML, CSV, solution
JSON): a larger file is refused, so memory stays bounded whatever a path names."""


class UnreadableFileError(Exception):
    """A path that names no readable regular file within :data:`MAX_INPUT_BYTES`; the message
    says why without quoting the file's content."""


def read_input(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file at ``path``, of at most ``limit`` bytes.

    The file is opened without blocking, so a FIFO is refused instead of waiting for a writer;
    directories, devices (``/dev/zero``), sockets and symlink loops are refused too, and reading
    stops after ``limit + 1`` bytes, so a file that grows while read cannot exhaust memory.

    Raises:
        UnreadableFileError: why the file cannot be read, in a few words.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        why = getattr(exc, "strerror", None) or exc
        raise UnreadableFileError(f"cannot read: {why}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnreadableFileError("not a regular file (a directory, FIFO, socket or device)")
        with os.fdopen(fd, "rb", closefd=False) as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise UnreadableFileError(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnreadableFileError(f"larger than {limit:,} bytes, the most hetplan reads of a file")
    return data


def bundled_catalog_dir() -> Path:
    """The catalog shipped with hetplan: inside the wheel, or ``catalogs/`` of a checkout."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "_bundled" / "catalogs"
    return installed if installed.is_dir() else package.parent / "catalogs"


@dataclass(frozen=True, slots=True)
class _Parsed:
    kind: Kind
    entry: Entry
    file: str


@dataclass(frozen=True, slots=True)
class InlineEntries:
    """Catalog entries written inside another file, such as a problem's ``[catalog]`` tables.

    ``tables`` maps a TOML table name (``accelerator``, ``memory``...) to its raw entries;
    ``file`` names the file in problems and ``prefix`` the tables' parent (``catalog.``), so an
    entry without a usable id is called ``catalog.accelerator[0]``.
    """

    file: str
    tables: Mapping[str, Sequence[dict]]
    prefix: str = ""


def load_catalog(
    *user_dirs: str | Path,
    include_bundled: bool = True,
    extra_entries: InlineEntries | None = None,
) -> Catalog:
    """Load the bundled catalog and any user directories on top of it.

    Args:
        *user_dirs: directories of ``*.toml`` files, applied in order after the bundled one.
        include_bundled: start from the bundled catalog (default) or from nothing.
        extra_entries: entries applied last, like one more user directory; their canonical JSON
            goes into the fingerprint.

    Returns:
        The merged, cross-checked catalog.

    Raises:
        CatalogError: with one ``FILE: ENTRY: FIELD: message`` problem per line.
    """
    dirs = ([bundled_catalog_dir()] if include_bundled else []) + [Path(d) for d in user_dirs]
    key = _content_key(dirs) if extra_entries is None else None
    with _LOADED_LOCK:
        if key in _LOADED:
            _LOADED.move_to_end(key)
            return _LOADED[key]
    problems: list[Problem] = []
    records: dict[tuple[str, str], Record] = {}
    digest = hashlib.sha256()
    for index, directory in enumerate(dirs):
        is_user = not include_bundled or index > 0
        parsed = _read_directory(directory, problems, digest)
        _merge(parsed, records, is_user, problems)
    if extra_entries is not None:
        parsed = _read_inline(extra_entries, problems, digest)
        _merge(parsed, records, True, problems)
    if not problems:
        problems.extend(check_catalog(records))
    if problems:
        raise CatalogError(problems)
    catalog = Catalog(records=records, fingerprint=digest.hexdigest()[:16])
    if key is not None:
        with _LOADED_LOCK:
            _LOADED[key] = catalog
            while len(_LOADED) > _KEPT_CATALOGS:
                _LOADED.popitem(last=False)
    return catalog


def with_entries(catalog: Catalog, extra: InlineEntries) -> Catalog:
    """``catalog`` with ``extra``'s entries merged on top, as if loaded last, and cross-checked
    again: co-design adds each trial's hypothetical parts to a loaded catalog without reading
    its files again. The fingerprint covers the old one and the new entries.

    Raises:
        CatalogError: with one ``FILE: ENTRY: FIELD: message`` problem per line.
    """
    problems: list[Problem] = []
    records = dict(catalog.records)
    digest = hashlib.sha256(catalog.fingerprint.encode())
    _merge(_read_inline(extra, problems, digest), records, True, problems)
    if not problems:
        problems.extend(check_catalog(records))
    if problems:
        raise CatalogError(problems)
    return Catalog(records=records, fingerprint=digest.hexdigest()[:16])


_KEPT_CATALOGS = 4
_LOADED: OrderedDict[str, Catalog] = OrderedDict()
_LOADED_LOCK = threading.Lock()
"""Catalogs loaded in this process by the content of their files: a study loads one catalog
for every point, and parsing it (0.17 s) is a sixth of a small point's solve."""


def _content_key(dirs: Sequence[Path]) -> str | None:
    """A SHA-256 over the working directory (messages name files relative to it) and every
    ``*.toml`` file of ``dirs``, name and bytes; None when one cannot be read (then the load
    itself says why)."""
    digest = hashlib.sha256(os.getcwd().encode())
    try:
        for directory in dirs:
            digest.update(b"\0dir\0" + os.path.abspath(directory).encode())
            for path in sorted(directory.glob("*.toml")):
                digest.update(b"\0" + path.name.encode() + b"\0" + read_input(path))
    except (OSError, UnreadableFileError):
        return None
    return digest.hexdigest()


def load_efficiency_file(path: str | Path) -> list:
    """The ``[[efficiency]]``, ``[[overhead]]`` and ``[[power]]`` entries of one TOML file (as
    ``--efficiency FILE`` gives them).

    Raises:
        CatalogError: unreadable file, invalid entries, other sections, or no entries at all.
    """
    path = Path(path)
    problems: list[Problem] = []
    if not os.path.lexists(path):
        raise CatalogError([Problem(display_path(path), "", "", "no such file")])
    parsed = _read_file(path, problems, hashlib.sha256())
    _check_duplicates(parsed, problems)
    for item in parsed:
        if item.kind.name not in ("efficiency", "overheads", "power"):
            why = "an efficiency file holds only [[efficiency]], [[overhead]], [[power]] entries"
            problems.append(Problem(item.file, item.entry.id, "", why))
    if not parsed and not problems:
        problems.append(Problem(display_path(path), "", "", "holds no [[efficiency]] entries"))
    if problems:
        raise CatalogError(problems)
    return [item.entry for item in parsed]


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it.
    Symlinks are not followed, so a symlink loop names itself instead of raising."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except (ValueError, OSError):  # outside the working directory, or no working directory
        return str(path)


def _read_directory(directory: Path, problems: list[Problem], digest) -> list[_Parsed]:
    if not directory.is_dir():
        problems.append(Problem(display_path(directory), "", "", "not a readable directory"))
        return []
    files = sorted(directory.glob("*.toml"))
    if not files:
        problems.append(Problem(display_path(directory), "", "", "holds no *.toml catalog files"))
    parsed: list[_Parsed] = []
    for path in files:
        parsed.extend(_read_file(path, problems, digest))
    _check_duplicates(parsed, problems)
    return parsed


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


def read_toml(path: Path, name: str, problems: list[Problem]) -> tuple[bytes, dict] | None:
    """The bytes and parsed tables of a TOML file, or None with the reason added to problems:
    every TOML input (catalog, problem, efficiency) is read here, through :func:`read_input`."""
    try:
        raw_bytes = read_input(path)
        return raw_bytes, tomllib.loads(raw_bytes.decode("utf-8"))
    except UnreadableFileError as exc:
        problems.append(Problem(name, "", "", str(exc)))
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        problems.append(Problem(name, "", "", "nested too deeply to read"))
    except UnicodeDecodeError as exc:
        problems.append(Problem(name, "", "", f"not UTF-8 text (byte {exc.start})"))
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = _TOML_POSITION.search(message)
        if where:
            line, column = where.groups()
            text = _TOML_POSITION.sub("", message)
            problems.append(Problem(name, f"line {line}", "", f"{text} (column {column})"))
        else:
            problems.append(Problem(name, "", "", message))
    return None


def _read_file(path: Path, problems: list[Problem], digest) -> list[_Parsed]:
    name = display_path(path)
    read = read_toml(path, name, problems)
    if read is None:
        return []
    raw_bytes, data = read
    digest.update(path.name.encode() + b"\0" + raw_bytes)
    return _parse_tables(data, name, "", problems)


def _read_inline(extra: InlineEntries, problems: list[Problem], digest) -> list[_Parsed]:
    parsed = _parse_tables(dict(extra.tables), extra.file, extra.prefix, problems)
    _check_duplicates(parsed, problems)
    if parsed:
        canonical = [[p.kind.table, p.entry.model_dump(mode="json")] for p in parsed]
        digest.update(b"inline\0" + json.dumps(canonical, sort_keys=True).encode())
    return parsed


def _parse_tables(data: dict, name: str, prefix: str, problems: list[Problem]) -> list[_Parsed]:
    parsed: list[_Parsed] = []
    for table, items in data.items():
        kind = KIND_BY_TABLE.get(table)
        if kind is None:
            known = ", ".join(f"[[{t}]]" for t in KIND_BY_TABLE)
            problems.append(Problem(name, "", table, f"unknown section; expected one of {known}"))
            continue
        if not isinstance(items, list | tuple) or not all(isinstance(i, dict) for i in items):
            problems.append(Problem(name, "", table, f"must be an array of tables ([[{table}]])"))
            continue
        for position, raw in enumerate(items):
            entry = _validate(kind, raw, name, f"{prefix}{table}[{position}]", problems)
            if entry is not None:
                parsed.append(_Parsed(kind, entry, name))
    return parsed


def _validate(kind: Kind, raw: dict, file: str, fallback_id: str, problems: list[Problem]):
    entry_id = raw.get("id") if isinstance(raw.get("id"), str) else fallback_id
    try:
        return kind.schema.model_validate(raw)
    except ValidationError as exc:
        problems.extend(Problem(file, entry_id, *field_message(e)) for e in exc.errors())
        return None


_FIELD_PREFIX = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*): (.*)$", re.DOTALL)
_NO_GOT = {"missing", "extra_forbidden", "value_error", "assertion_error"}


def field_message(error: dict) -> tuple[str, str]:
    """Turn one pydantic error into (dotted field path, message with what was given)."""
    loc = [str(part) for part in error["loc"]]
    message = error["msg"]
    if error["type"] == "value_error":
        message = message.removeprefix("Value error, ")
        match = _FIELD_PREFIX.match(message)
        if match:
            loc.append(match.group(1))
            message = match.group(2)
    elif error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required field missing"
    elif error["type"] == "string_pattern_mismatch" and error["ctx"]["pattern"] == ID_PATTERN:
        message = "ids are lower-case letters, digits, '.' and '-'"
        given = error.get("input")
        if isinstance(given, str) and re.fullmatch(ID_PATTERN, given.lower()):
            message += f" (did you mean {given.lower()!r}?)"
    if error["type"] not in _NO_GOT:
        given = repr(error.get("input"))
        message += f", got {given if len(given) <= 60 else given[:57] + '...'}"
    return ".".join(loc), message


def _check_duplicates(parsed: Iterable[_Parsed], problems: list[Problem]) -> None:
    seen: dict[str, _Parsed] = {}
    for item in parsed:
        first = seen.setdefault(item.entry.id, item)
        if first is item:
            continue
        if first.kind is item.kind:
            why = f"duplicate id, first defined in {first.file}"
        else:
            why = f"id already used by another kind ({first.kind.name}) in {first.file}"
        problems.append(Problem(item.file, item.entry.id, "id", why))


def _merge(parsed, records, is_user: bool, problems: list[Problem]) -> None:
    for item in parsed:
        key = (item.kind.name, item.entry.id)
        clash = next(
            (r for (k, i), r in records.items() if i == item.entry.id and k != item.kind.name),
            None,
        )
        if clash is not None:
            why = f"id already used by another kind ({clash.kind}) in {clash.file}"
            problems.append(Problem(item.file, item.entry.id, "id", why))
            continue
        if not is_user:
            origin = Origin.BUNDLED
        elif key in records:
            origin = Origin.OVERRIDE
        else:
            origin = Origin.USER
        records[key] = Record(item.kind.name, item.entry, item.file, origin)
