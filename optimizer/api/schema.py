"""JSON Schemas of the files users write, generated from the models that validate them, for
editors (``hetplan schema``): a problem file, or one catalog entry kind."""

from __future__ import annotations

from optimizer.errors import FieldError

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_names() -> tuple[str, ...]:
    """``problem`` and the catalog's ``[[table]]`` names."""
    from optimizer.catalog.kinds import KIND_BY_TABLE

    return ("problem", *KIND_BY_TABLE)


def schema(name: str) -> dict:
    """The JSON Schema of a problem file (``problem``) or of one ``[[table]]`` entry of a
    catalog file (``accelerator``, ``system``, ``power``...).

    Raises:
        FieldError: an unknown name.
    """
    from optimizer.catalog.kinds import KIND_BY_TABLE
    from optimizer.catalog.problem_spec import ProblemSpec

    if name == "problem":
        model = ProblemSpec
    elif name in KIND_BY_TABLE:
        model = KIND_BY_TABLE[name].schema
    else:
        raise FieldError("name", f"{name!r} is not one of {', '.join(schema_names())}")
    return {"$schema": SCHEMA_DIALECT, **model.model_json_schema()}
