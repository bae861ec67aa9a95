"""The journal: one JSON line per finished point, appended and synced to disk before the next,
so a study killed at any moment loses at most the points still running.

Reading tolerates what a kill leaves: a truncated last line is skipped (and the next append
starts on a fresh line), and a point journaled twice (two runs on a file system where the
directory lock does not hold, or journals joined by hand) keeps its first record.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

JOURNAL_NAME = "journal.jsonl"


@dataclass(frozen=True, slots=True)
class JournalContents:
    """Records by point key (the first of each key), and how many lines could not be read."""

    records: dict[str, dict]
    n_unreadable: int


def read_journal(path: Path) -> JournalContents:
    """Every readable record of ``path`` by its ``key`` (none when the file does not exist)."""
    records: dict[str, dict] = {}
    unreadable = 0
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return JournalContents(records, 0)
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, ValueError):
            unreadable += 1
            continue
        if isinstance(record, dict) and isinstance(record.get("key"), str):
            records.setdefault(record["key"], record)
        else:
            unreadable += 1
    return JournalContents(records, unreadable)


def append_records(path: Path, records: Iterable[dict]) -> None:
    """Append ``records`` as JSON lines, flushed and fsynced before returning. A last line a
    kill left unfinished is closed with a newline first, so it cannot swallow the new one."""
    lines = b"".join(
        json.dumps(r, allow_nan=False, separators=(",", ":")).encode() + b"\n" for r in records
    )
    if not lines:
        return
    with open(path, "ab") as f:
        if f.tell() > 0 and not _ends_with_newline(path):
            f.write(b"\n")
        f.write(lines)
        f.flush()
        os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
