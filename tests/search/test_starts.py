"""The fleet the optimum starts from, among the baselines' (``search/provision.py:
_optimum``): the first of those tied in the objective, in the baselines' order, so that a
problem gives the same fleet on every call. Read from a set of finished futures, the start
followed their order in memory: the study base at 10 requests/s, whose homogeneous aggregated
fleet (one TP4 H100 instance) and disaggregated fleet (a TP2 prefill and a TP2 decode instance)
cost the same 9.4 $/h on the same four devices, came out one or the other by turns."""

from __future__ import annotations

import textwrap

from optimizer.api import solve
from tests.study.conftest import BASE, RATE


def test_a_tie_between_start_fleets_gives_the_same_fleet_on_every_call(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text(textwrap.dedent(BASE))
    fleets = set()
    for _ in range(4):
        solution = solve(base, overrides={RATE: "10"}, workers=1)
        assert solution.cost_usd_per_hour == 9.4
        fleets.add(tuple(sorted((pool.name, pool.instances) for pool in solution.pools)))
    baselines = {b.name: b.objective for b in solution.baselines}
    assert baselines["homogeneous-aggregated"] == baselines["homogeneous-disaggregated"] == 9.4
    assert fleets == {(("llama-3.1-70b/h100-sxm/tp4/fp8/aggregated", 1),)}
