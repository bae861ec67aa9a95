"""Any mutation of a catalog file ends in a loaded catalog or a CatalogError, never a crash."""

from __future__ import annotations

import tomllib

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.catalog import load_catalog
from optimizer.errors import CatalogError
from tests.conftest import MINIMAL_HARDWARE

BASE = tomllib.loads(MINIMAL_HARDWARE)
TABLES = list(BASE)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    table=st.sampled_from(TABLES),
    key=st.one_of(
        st.sampled_from(sorted({k for t in TABLES for k in BASE[t][0]})), st.text(max_size=8)
    ),
    value=values,
)
def test_mutated_catalog_loads_or_reports_problems(tmp_path_factory, table, key, value):
    data = {t: [dict(e) for e in entries] for t, entries in BASE.items()}
    if value is None:
        data[table][0].pop(key, None)
    else:
        data[table][0][key] = value
    directory = tmp_path_factory.mktemp("fuzz")
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):  # NaN keys and the like TOML cannot hold
        return
    (directory / "hardware.toml").write_text(text)
    try:
        load_catalog(directory, include_bundled=False)
    except CatalogError as error:
        assert error.problems
        assert all(p.file.endswith("hardware.toml") and p.message for p in error.problems)
