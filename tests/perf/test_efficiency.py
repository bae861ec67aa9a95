"""The efficiency factors are defined once (``perf.efficiency.FACTORS``): every other place that
names them agrees, and a catalog entry's factors reach ``Config`` in SI units."""

from __future__ import annotations

from dataclasses import fields

import pytest

from optimizer.catalog.efficiency_spec import EfficiencyFactors
from optimizer.perf.config import Config, efficiency_fields
from optimizer.perf.efficiency import (
    FACTORS,
    Efficiency,
    Phase,
    PhaseEfficiency,
    table_from_entries,
)

NAMES = [f.name for f in FACTORS]


def test_phase_efficiency_fields_are_the_factors():
    assert [f.name for f in fields(PhaseEfficiency)] == NAMES


def test_catalog_schema_has_every_factor():
    assert set(NAMES) <= set(EfficiencyFactors.model_fields)


def test_config_has_one_field_per_factor_and_phase():
    efficiency_fields_of_config = {f.name for f in fields(Config) if f.name.startswith(
        ("prefill_", "decode_"))}  # fmt: skip
    expected = {f"{p.value}_{f.config_suffix}" for p in Phase for f in FACTORS}
    assert efficiency_fields_of_config == expected


def test_fit_starts_inside_its_bounds():
    for f in FACTORS:
        assert f.fit_lower <= f.fit_start <= f.fit_upper, f.name


def test_an_entry_reaches_config_in_si_units():
    entry = EfficiencyFactors(
        id="x-decode", name="x", family="x", phase="decode", compute=0.5, memory=0.8,
        overhead_us_per_layer=30.0, hop_latency_scale=2.0, overhead_us_per_sequence=4.0,
        link=0.6, fit_rows=0, confidence="uncertain", sources=["a test"],
    )  # fmt: skip
    efficiency, _ = table_from_entries([entry], "test").lookup("x")
    assert isinstance(efficiency, Efficiency)
    si = efficiency_fields(efficiency)
    # microseconds to seconds; fractions and scales unchanged
    assert si["decode_overhead_s_per_layer"] == pytest.approx(30e-6)
    assert si["decode_overhead_s_per_sequence"] == pytest.approx(4e-6)
    assert (si["decode_compute_eff"], si["decode_memory_eff"]) == (0.5, 0.8)
    assert (si["decode_hop_latency_scale"], si["decode_link_eff"]) == (2.0, 0.6)
    # no prefill entry and no default: the prefill phase keeps the roofline's factors
    assert si["prefill_compute_eff"] == 1.0 and si["prefill_overhead_s_per_layer"] == 0.0
