"""Issue 14, item 3: measured problems whose rates, capabilities and prices span the whole
accepted range (coefficients 10⁻¹⁵ to 10¹⁵ apart) get a verdict from both solvers, and the same
one. Before, HiGHS refused such models' rows, stopped without a verdict, or proved a bound above
its own fleet; CBC ran an infeasibility explanation past the time limit."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from optimizer.api import solve

SPAN = [1e-6, 1e-3, 1.0, 1e3, 1e6, 1e9]
N_EXAMPLES = 8  # about half a minute; -m slow tries 200


def _problem(rate, mix, caps, prices, budget) -> str:
    instances = "".join(
        f'[[measured.instances]]\nname = "{name}"\nusd_per_hour = {price!r}\n'
        f"capabilities = {[[float(c) for c in row] for row in cap]}\n"
        for name, price, cap in zip("ab", prices, caps, strict=True)
    )
    limit = f"[constraints]\nbudget_usd_per_hour = {budget!r}\n" if budget else ""
    return (
        f'[problem]\nname = "extreme"\n[measured]\nrequests_per_s = {rate!r}\nmix = {mix}\n'
        f'{instances}[objective]\nkind = "cost"\npricing = "cloud"\n{limit}'
        "[solver]\ntime_limit_s = 5\n"
    )


@st.composite
def problems(draw):
    weights = [draw(st.sampled_from([1e-6, 0.5, 1.0])) for _ in range(4)]
    total = sum(weights)
    shares = [w / total for w in weights]
    shares[3] = 1.0 - sum(shares[:3])
    mix = [shares[:2], shares[2:]]
    caps = [[[draw(st.sampled_from([0.0, *SPAN])) for _ in range(2)] for _ in range(2)]
            for _ in range(2)]  # fmt: skip
    prices = [draw(st.sampled_from([1e-3, 1.0, 1e3, 1e6])) for _ in range(2)]
    budget = draw(st.sampled_from([None, 1e-6, 1e3, 1e12]))
    return _problem(draw(st.sampled_from(SPAN)), mix, caps, prices, budget)


def _agree(path) -> None:
    """Both solvers end in a verdict (a fleet stopped by the time limit is one: ``feasible``),
    the same where both prove it, and a proven optimum no dearer than the other's fleet. Costs
    agree within 0.1 %, or by one instance where a fleet's load lies within the solvers'
    tolerance (10⁻⁶) of a whole number: 500.0000015 instances of load were 500 to CBC and 501
    to HiGHS, both right within it."""
    cbc, highs = (solve(path, overrides={"solver.name": name}) for name in ("cbc", "highs"))
    statuses = {cbc.status, highs.status}
    assert statuses <= {"optimal", "feasible", "infeasible"}, statuses
    if "infeasible" in statuses:
        assert statuses == {"infeasible"} and highs.explanation and cbc.explanation
        return
    proven = [r.cost_usd_per_hour for r in (cbc, highs) if r.status == "optimal"]
    found = [cbc.cost_usd_per_hour, highs.cost_usd_per_hour]
    instance = max(p.cost_usd_per_hour / p.instances for r in (cbc, highs) for p in r.pools
                   if p.instances)  # fmt: skip
    if len(proven) == 2:
        assert abs(proven[0] - proven[1]) <= 1e-3 * max(proven) + instance, proven
    elif proven:
        assert proven[0] <= max(found) * (1 + 1e-3)


SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


def _tiny_class_beside_a_huge_one() -> str:
    """Three classes of a millionth of the traffic beside one of the rest, a card that serves
    one class a billion times faster than the others and a dear one that serves only a tiny
    class: CBC parked 1.3e-6 of that class on the dear card, bought none of it, and dropping
    the noise left 0.9999987 of the class covered, which the re-check refused (a CI draw,
    2026-12-01)."""
    weights = [1e-6, 1e-6, 1e-6, 1.0]
    shares = [w / sum(weights) for w in weights]
    shares[3] = 1.0 - sum(shares[:3])
    caps = [[[1e-3, 1e-3], [1e-3, 1e6]], [[0.0, 0.0], [1e-3, 0.0]]]
    return _problem(1.0, [shares[:2], shares[2:]], caps, [1.0, 1e3], None)


@settings(max_examples=N_EXAMPLES, deadline=None, suppress_health_check=SLOW_OK)
@given(text=problems())
@example(text=_tiny_class_beside_a_huge_one())
def test_both_solvers_reach_a_verdict_and_agree(text, tmp_path):
    path = tmp_path / "extreme.toml"
    path.write_text(text)
    _agree(path)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(text=problems())
def test_both_solvers_reach_a_verdict_and_agree_many(text, tmp_path):
    path = tmp_path / "extreme.toml"
    path.write_text(text)
    _agree(path)


def test_a_load_a_hair_above_a_whole_number_buys_the_next_instance(tmp_path):
    """One instance type of 10⁻⁶ requests/s carries a class of 0.001 · 0.4000004 = 4.000004e-4
    requests/s: 400.0004 instances of load, so 401 must be bought (the proven least of both
    solvers); a rounding that forgave 10⁻⁶ of the load reported 400 and then failed its own
    proof."""
    caps = [[[1e-6, 1e6], [1.0, 1.0]], [[0.0, 1e6], [0.0, 1e6]]]
    text = _problem(1e-3, [[0.4000004, 0.5999996], [0.0, 0.0]], caps, [1.0, 1e-3], None)
    path = tmp_path / "hair.toml"
    path.write_text(text)
    for name in ("cbc", "highs"):
        result = solve(path, overrides={"solver.name": name})
        assert result.status == "optimal"
        a = next(p for p in result.pools if p.name == "a")
        assert a.instances == 401


def test_a_load_within_rounding_of_a_whole_number_is_not_a_wrong_proof(tmp_path):
    """1,000 requests/s, a third on instances of 1,000 and a sixth on instances of 1 requests/s,
    the rest at 10⁹: 0.3333333 + 166.6666667 + 5·10⁻⁷ = 167.0000005 instances of load. Both
    solvers prove 168 the least (0.168 $/h); the re-check forgives a need within 10⁻⁶ of a whole
    number and keeps 167. Its fleet then lies below the solvers' bound, which is right all the
    same: the bound is checked against the fleet the solver returned, not the trimmed one
    (hypothesis found this one; before, both solvers' verdicts were called untrustworthy)."""
    caps = [[[0.0, 0.0], [0.0, 0.0]], [[1000.0, 1e9], [1.0, 1e9]]]
    mix = [[1 / 3, 1 / 6], [1 / 6, 1 - 1 / 3 - 1 / 6 - 1 / 6]]
    path = tmp_path / "rounding.toml"
    path.write_text(_problem(1000.0, mix, caps, [1e-3, 1e-3], None))
    for name in ("cbc", "highs"):
        result = solve(path, overrides={"solver.name": name})
        assert result.status == "optimal", result.explanation
        assert [p.instances for p in result.pools] == [167]
        assert result.cost_usd_per_hour == pytest.approx(0.167)


def test_a_class_beyond_reach_is_explained(tmp_path):
    """0.999994 requests/s on instances of 10⁻⁶ requests/s each need 999,994 instances, more
    than the 100,000 hetplan plans (prune.MAX_INSTANCES): infeasible, and said so by both
    solvers (at that scale HiGHS once proved a bound above the all-b fleet of 999,998)."""
    caps = [[[1e-6, 1.0], [1.0, 1.0]], [[1e-6, 1.0], [1.0, 1.0]]]
    text = _problem(1.0, [[0.999994, 0.000006], [0.0, 0.0]], caps, [1.0, 1e-3], None)
    path = tmp_path / "far.toml"
    path.write_text(text)
    for name in ("cbc", "highs"):
        result = solve(path, overrides={"solver.name": name})
        assert result.status == "infeasible"
        assert "more than 100,000 instances" in result.explanation[0]


def test_a_negligible_load_still_needs_an_instance(tmp_path):
    """10⁻⁶ requests/s on instances of 10³ requests/s is 10⁻⁹ of an instance: too small for the
    load row (left out below 10⁻⁸), so the runs-on row must still make a share buy one. Column a
    (10 $/h) would otherwise carry the class for free and lose to nothing; b (1 $/h, one
    request/s each) is the optimum: 1 $/h."""
    caps = [[[1e3, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]]
    text = _problem(1e-6, [[1.0, 0.0], [0.0, 0.0]], caps, [10.0, 1.0], None)
    path = tmp_path / "negligible.toml"
    path.write_text(text)
    for name in ("cbc", "highs"):
        result = solve(path, overrides={"solver.name": name})
        assert result.status == "optimal"
        assert result.cost_usd_per_hour == pytest.approx(1.0)
        assert [(p.name, p.instances) for p in result.pools if p.instances] == [("b", 1)]


TINY_CLASS_UNDER_ONE_WATT = """
[problem]
name = "tiny"
[[serve]]
model = "llama-3.1-8b"
workload = "chat"
requests_per_s = 1e-9
ttft_ms = 1000
tpot_ms = 50
[objective]
kind = "cost"
pricing = "cloud"
[constraints]
power_budget_kw = 1e-3
[styles]
accelerators = ["h100-sxm", "l40s"]
precisions = ["fp8"]
tp = [1, 2]
"""


def test_both_solvers_measure_the_shortfall_of_a_tiny_class(tmp_path):
    """10⁻⁹ requests/s under a 1 W limit: infeasible (any instance draws hundreds of watts),
    and both solvers say by how much. The class's tier GB per share (about 10⁻¹² of a unit)
    beside whole instances' slots once made CBC call even the model with every limit relaxed
    infeasible."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_CLASS_UNDER_ONE_WATT)
    shortfalls = []
    for name in ("cbc", "highs"):
        result = solve(path, overrides={"solver.name": name})
        assert result.status == "infeasible"
        assert result.explanation[0].startswith("power short by"), result.explanation
        shortfalls.append(result.explanation[0])
    assert shortfalls[0] == shortfalls[1]
