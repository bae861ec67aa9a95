"""Key paths into parsed TOML, and setting one of them, for fuzz tests that mutate one field of a
valid file."""

from __future__ import annotations


def key_paths(node, prefix=()) -> list[tuple]:
    """Every key path into a parsed TOML document, tables and array items included."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    paths = []
    for key, value in items:
        paths.append((*prefix, key))
        if isinstance(value, dict | list):
            paths.extend(key_paths(value, (*prefix, key)))
    return paths


def set_at(data, path: tuple, value) -> None:
    """In a parsed document, drop the key at ``path`` (``value`` None) or set it."""
    *parents, last = path
    for key in parents:
        data = data[key]
    if value is None:
        data.pop(last)
    else:
        data[last] = value
