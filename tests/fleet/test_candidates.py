"""Candidate columns: the performance model's numbers reach the ILP unchanged, with the
hand-off, parking and pricing the fleet layer adds."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.api import Context, EstimateRequest, estimate
from optimizer.catalog.loader import load_catalog
from optimizer.catalog.problem_spec import ProblemSpec
from optimizer.fleet.candidates import build_fleet, class_traffic
from optimizer.perf.efficiency import table_from_entries

MODEL, WORKLOAD = "llama-3.1-70b", "coding-agent"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def spec(**sections) -> ProblemSpec:
    serve = {"model": MODEL, "workload": WORKLOAD, "requests_per_s": 10.0,
             "ttft_ms": 2000.0, "tpot_ms": 50.0}  # fmt: skip
    serve.update(sections.pop("serve", {}))
    styles = {"accelerators": ["h100-sxm", "b200"], "tp": [4, 8], "precisions": ["fp8"]}
    styles.update(sections.pop("styles", {}))
    return ProblemSpec.model_validate(
        {"problem": {"name": "t"}, "serve": [serve], "styles": styles, **sections}
    )


@pytest.fixture(scope="module")
def fleet(catalog):
    return build_fleet(catalog, spec(), catalog.get("economics", "default"), factors(catalog))


def factors(catalog):
    return table_from_entries(
        [*catalog.efficiency.values(), *catalog.overheads.values()], "catalog"
    )


def column(fleet, name):
    return fleet.table.columns.names.index(name)


def test_decode_capability_is_the_estimate_at_the_slo(catalog, fleet):
    i = column(fleet, f"{MODEL}/h100-sxm/tp4/fp8/decode")
    request = EstimateRequest(model=MODEL, accelerator="h100-sxm", tp=4, precision="fp8",
                              workload=WORKLOAD, phase="decode", tpot_slo_ms=50.0)  # fmt: skip
    expected = estimate(request, context=Context(catalog, factors(catalog)))
    assert fleet.table.columns.capability[i, 0] == pytest.approx(expected.requests_per_s)
    assert fleet.table.batch[i, 0] == expected.batch
    assert fleet.table.tpot_s[i, 0] <= 0.050


def test_prefill_ttft_includes_the_kv_hand_off(fleet):
    c = fleet.table.columns
    i = column(fleet, f"{MODEL}/h100-sxm/tp4/fp8/prefill")
    # 8,012.5 tokens × 80 layers × 8 KV heads × 128 × 2 (K, V) × 1 byte (fp8) over 4 × 50 GB/s
    kv_bytes = 8012.51 * 80 * 8 * 128 * 2 * 1.0
    transfer_s = kv_bytes / (4 * 50e9)
    assert transfer_s == pytest.approx(6.56e-3, rel=1e-2)
    assert c.capability[i, 0] > 0
    assert transfer_s < fleet.table.ttft_s[i, 0] <= 2.0
    # the hand-off rate is counted in bf16 bytes, so an fp8 column carries twice as much
    assert fleet.classes.kv_transfer_bytes[0] == pytest.approx(2 * kv_bytes)
    assert c.transfer_bytes_per_s[i] == pytest.approx(2 * 4 * 50e9)


def test_aggregated_columns_hand_nothing_off(fleet):
    c = fleet.table.columns
    both = c.prefill & c.decode
    assert both.any() and np.isinf(c.transfer_bytes_per_s[both]).all()
    assert np.isfinite(c.transfer_bytes_per_s[~both]).all()


def test_tighter_ttft_never_raises_a_prefill_capability(catalog, fleet):
    econ = catalog.get("economics", "default")
    tight = build_fleet(catalog, spec(serve={"ttft_ms": 200.0}), econ, factors(catalog))
    for name in fleet.table.columns.names:
        if name.endswith("/prefill"):
            i, j = column(fleet, name), column(tight, name)
            assert tight.table.columns.capability[j, 0] <= fleet.table.columns.capability[i, 0]
            if tight.table.columns.capability[j, 0] > 0:
                assert tight.table.ttft_s[j, 0] <= 0.200 * (1 + 1e-9)


def test_parked_sessions_hold_tool_time_times_their_kv(catalog):
    econ = catalog.get("economics", "default")
    f = build_fleet(
        catalog, spec(styles={"tiers": ["ddr5"], "tier_uses": ["park"]}), econ, factors(catalog)
    )
    names = f.table.columns.names
    i = names.index(f"{MODEL}/h100-sxm/tp4/fp8/prefill/ddr5-park")
    # 1.11 s of tool time × KV of the 8,045-token history, at the column's fp8 KV:
    # 80 layers × 8 KV heads × 128 × 2 (K, V) × 1 byte = 163,840 B/token (half of bf16's)
    expected_gb = 1.11 * (8012.51 + 32.68) * 163_840 / 1e9
    served = f.table.columns.capability[i, 0] > 0
    assert f.table.columns.tier_gb_per_request_rate[i, 0] == pytest.approx(expected_gb * served)
    assert f.table.columns.tier[i] == "ddr5" and f.table.columns.tier_gb[i] == 0.0


def test_host_tiers_are_offered_over_any_pcie_generation_not_across_link_kinds(catalog):
    """A PCIe 4.0 card (A100) in a PCIe 5.0 host reaches its DDR5 (at Gen4 speed:
    tests/perf/test_step.py); a GB200, whose host link is NVLink-C2C to Grace, is offered
    Grace's LPDDR5X, not the x86 host's DDR5; an H100 on PCIe 5.0 not Grace's LPDDR5X."""
    econ = catalog.get("economics", "default")
    styles = {"accelerators": ["a100-sxm-80gb", "gb200", "h100-sxm"], "tp": [8],
              "tiers": ["ddr5", "lpddr5x"], "tier_uses": ["park"]}  # fmt: skip
    f = build_fleet(catalog, spec(styles=styles), econ, factors(catalog))
    tiers = {(n.split("/")[1], n.rsplit("/", 1)[-1]) for n in f.table.columns.names}
    assert ("a100-sxm-80gb", "ddr5-park") in tiers
    assert ("gb200", "lpddr5x-park") in tiers and ("gb200", "ddr5-park") not in tiers
    assert ("h100-sxm", "ddr5-park") in tiers and ("h100-sxm", "lpddr5x-park") not in tiers


def test_spill_columns_hold_their_tier_per_device(catalog):
    econ = catalog.get("economics", "default")
    f = build_fleet(
        catalog, spec(styles={"tiers": ["ddr5"], "tier_uses": ["spill"]}), econ, factors(catalog)
    )
    i = f.table.columns.names.index(f"{MODEL}/b200/tp8/fp8/decode/ddr5-spill-64gb")
    assert f.table.columns.tier_gb[i] == 8 * 64.0


def test_sessions_per_s_counts_every_turn(catalog):
    econ = catalog.get("economics", "default")
    f = build_fleet(
        catalog,
        spec(serve={"requests_per_s": None, "sessions_per_s": 0.5}),
        econ,
        factors(catalog),
    )
    turns = catalog.get("workloads", WORKLOAD).turns_per_session.mean
    assert f.classes.requests_per_s[0] == pytest.approx(0.5 * turns)


def test_accelerators_without_a_price_are_left_out_and_said(catalog):
    econ = catalog.get("economics", "default")
    unpriced = "tpu-v7"  # not sold, and no public cloud rate
    assert catalog.accelerators[unpriced].price_usd is None
    f = build_fleet(
        catalog, spec(styles={"accelerators": ["h100-sxm", unpriced]}), econ, factors(catalog)
    )
    assert not any(f"/{unpriced}/" in n for n in f.table.columns.names)
    assert any(unpriced in note for note in f.notes)


def test_accelerators_rated_on_pooled_factors_are_said(catalog):
    """Gaudi 2 and the Arc Pro B60 have no factors of their own (Gaudi 2's one MLPerf row, at
    its TP8, does not constrain a scale of its own), so they are rated with the pooled
    default's, fitted on other vendors' hardware: the fleet says so; H100, with its own fitted
    family, is not named."""
    econ = catalog.get("economics", "default")
    table = factors(catalog).by_family
    for pooled in ("gaudi2", "arc-pro-b60"):
        assert catalog.accelerators[pooled].family not in table
    assert catalog.accelerators["h100-sxm"].family in table
    f = build_fleet(
        catalog,
        spec(styles={"accelerators": ["h100-sxm", "gaudi2", "arc-pro-b60"]}),
        econ,
        factors(catalog),
    )
    said = [n for n in f.notes if "pooled default" in n]
    assert len(said) == 1 and said[0].endswith(": gaudi2, arc-pro-b60")


def test_a_parking_column_streams_from_the_sockets_its_servers_hold():
    """Eight GB300s park in Grace LPDDR5X: their NVL72 holds one 500 GB/s socket per two
    GPUs, so the instance reloads at 4 × 500 = 2,000 GB/s, not at 8 × its 450 GB/s links."""
    from optimizer.catalog.choices import TierUse
    from optimizer.catalog.precision import Precision
    from optimizer.fleet.candidates import Variant, _config
    from optimizer.fleet.pricing import DevicePrice
    from optimizer.perf.efficiency import SOL
    from optimizer.perf.serving import ServePhase

    catalog = load_catalog()
    price = DevicePrice(1, 0, 0, "", "gb300-nvl72", 72)
    v = Variant("qwen3-coder-480b-a35b", catalog.accelerators["gb300"], price, 8, 1, 8,
                Precision.FP8, Precision.FP8, ServePhase.AGGREGATED,
                tier=catalog.memory["lpddr5x"], tier_use=TierUse.PARK)  # fmt: skip
    config = _config(catalog, lambda *_: SOL, v)
    assert float(config.tier_bw_bytes_per_s) == pytest.approx(min(4 * 500, 8 * 450) * 1e9)


def test_a_class_at_a_given_context_carries_it_to_its_request_and_parked_kv(catalog):
    traffic, = class_traffic(catalog, spec(serve={"context_tokens": 100_000}))  # fmt: skip
    assert traffic.request.input_tokens == 100_000
    # coding-agent at its own 8,012.51 tokens: 10 % uncached, 420 of them new, so
    # (801.251 - 420) / 7,592.51 of the history missed; at 100,000 tokens the same share of
    # its 99,580-token history. 32.68 output tokens; 1.11 s of tool time holds the KV of
    # 100,032.68 tokens at bf16: 80 layers × 8 KV heads × 128 × 2 (K, V) × 2 bytes = 327,680
    # B/token, 32.78 GB, so 36.38 GB parked per request/s
    missed = (0.1 * 8_012.51 - 420) / (8_012.51 - 420)
    assert traffic.request.prefix_tokens == pytest.approx(99_580 * (1 - missed))
    assert traffic.park_gb_per_request_rate == pytest.approx(1.11 * 100_032.68 * 327_680 / 1e9)


def test_a_tier_price_prices_every_tier_offered_even_one_the_catalog_does_not_price(catalog):
    econ = catalog.get("economics", "default")
    pool = "optical-memory-pool"
    assert catalog.memory[pool].price_usd_per_gb is None
    unpriced = build_fleet(catalog, spec(styles={"tiers": [pool, "ddr5"]}), econ,
                           factors(catalog))  # fmt: skip
    assert [p.name for p in unpriced.pools] == ["ddr5"]
    assert any("without a price, left out: " + pool in note for note in unpriced.notes)
    priced = build_fleet(
        catalog,
        spec(styles={"tiers": [pool, "ddr5"], "tier_price_usd_per_gb": 2.0}),
        econ,
        factors(catalog),
    )
    # one 32,000 GB appliance at 2 $/GB over 5 years of 8,760 h: 64,000 / 43,800 = 1.461 $/h;
    # one 64 GB DDR5 module at 2 $/GB: 128 / 43,800 = 0.00292 $/h
    cost = {p.name: p.cost_usd_per_hour_per_unit for p in priced.pools}
    assert cost == pytest.approx({pool: 64_000 / 43_800, "ddr5": 128 / 43_800})
    assert any("priced at 2 $/GB (styles.tier_price_usd_per_gb)" in n for n in priced.notes)
    assert any(name.endswith(f"/{pool}-park") for name in priced.table.columns.names)


def test_a_class_beyond_its_models_context_window_is_said(catalog, fleet):
    """Llama-3.1-70B documents 131,072 tokens. The coding agent's mean turn (8,012.51 input +
    32.68 output tokens) fits; set to 200,000 tokens of context it does not (200,032.68), and
    the fleet says so, with both numbers."""
    window = catalog.get("models", MODEL).max_context_tokens
    assert window == 131_072
    assert not any("context window" in note for note in fleet.notes)
    econ = catalog.get("economics", "default")
    long = build_fleet(catalog, spec(serve={"context_tokens": 200_000, "ttft_ms": 60_000.0}),
                       econ, factors(catalog))  # fmt: skip
    said = [note for note in long.notes if "context window" in note]
    assert len(said) == 1
    assert "200,033 tokens" in said[0] and "131,072-token" in said[0]


def test_classes_rated_in_one_evaluation_get_the_points_they_get_alone(catalog, monkeypatch):
    """``_rate_group`` serves a group's classes that set the same targets in one evaluation,
    the grid repeated per class. Differential check: every class's columns equal those of a
    problem that serves that class alone. The classes differ in workload, rate, targets and
    percentile, one sets no TPOT target (served apart, by another branch), and a host tier
    gives parking and spill groups too."""
    import optimizer.fleet.candidates as candidates

    served = [
        {"workload": "coding-agent", "requests_per_s": 10.0, "ttft_ms": 2000.0, "tpot_ms": 50.0},
        {"workload": "chat", "requests_per_s": 40.0, "ttft_ms": 800.0, "tpot_ms": 30.0,
         "percentile": 90.0},
        {"workload": "web-agent", "requests_per_s": 5.0, "ttft_ms": 3000.0, "tpot_ms": 60.0},
        {"workload": "chat", "requests_per_s": 20.0, "ttft_ms": 1500.0, "name": "chat-ttft"},
    ]  # fmt: skip
    styles = {"accelerators": ["h100-sxm", "mi300x"], "tp": [2, 4], "precisions": ["fp8"],
              "tiers": ["ddr5"]}  # fmt: skip
    economics = catalog.get("economics", "default")

    def problem(entries):
        serve = [{"model": MODEL} | e for e in entries]
        return ProblemSpec.model_validate({"problem": {"name": "t"}, "styles": styles,
                                           "serve": serve})  # fmt: skip

    evaluations = []
    real = candidates._serve_within_slo

    def counted(*args):
        evaluations.append(args)
        return real(*args)

    monkeypatch.setattr(candidates, "_serve_within_slo", counted)
    together = build_fleet(catalog, problem(served), economics, factors(catalog))
    groups = {(i.phase, i.tier_use) for i in together.table.info}
    # proof of coverage: one evaluation per group and target pattern, three classes in one
    assert len(evaluations) == 2 * len(groups) and len(groups) >= 4
    monkeypatch.setattr(candidates, "_serve_within_slo", real)
    names = together.table.columns.names
    for k, entry in enumerate(served):
        alone = build_fleet(catalog, problem([entry]), economics, factors(catalog))
        assert alone.table.columns.names == names
        for field in ("batch", "ttft_s", "tpot_s", "ttft_p50_s", "tpot_p50_s", "utilization",
                      "bound", "step_bound"):  # fmt: skip
            np.testing.assert_array_equal(
                getattr(together.table, field)[:, k], getattr(alone.table, field)[:, 0], field
            )
        for field in ("capability", "class_busy_w"):
            np.testing.assert_array_equal(
                getattr(together.table.columns, field)[:, k],
                getattr(alone.table.columns, field)[:, 0],
                field,
            )
        assert (together.table.columns.capability[:, k] > 0).any()
