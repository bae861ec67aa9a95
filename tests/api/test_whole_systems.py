"""Buildable purchases (issue 12, item 3): owned devices come in whole systems (each
accelerator's reference system), whose devices beyond the fleet's instances are paid and idle;
rented devices come one at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer.api import solve
from optimizer.catalog.problem_spec import ObjectiveKind
from optimizer.fleet.columns import IlpProblem, Limits, Objective, PurchaseUnit, Status
from optimizer.search.ilp import solve_ilp
from optimizer.search.verify import check_solution, fleet_totals
from tests.search.problems import make_classes, make_columns

PROBLEMS = Path(__file__).resolve().parents[2] / "problems"
COST = Objective(ObjectiveKind.COST, 1.0, 0.0, "usd_per_hour")


def _one_server_type(limits: Limits | None = None) -> IlpProblem:
    """One class of 1.5 requests/s on one column of 2-device instances at 1 request/s each
    ($2/h, 100 W idle, 400 W busy), bought in 8-device servers ($1/h, 50 W idle per device)."""
    return IlpProblem(
        classes=make_classes([1.5]),
        columns=make_columns(
            np.array([[1.0]]),
            cost_usd_per_hour=[2.0],
            idle_w=[100.0],
            busy_w=[400.0],
            devices=[2.0],
            group=["acc"],
        ),  # fmt: skip
        objective=COST,
        purchase_units=(PurchaseUnit("server", "acc", 8, 1.0, 50.0),),
        limits=limits or Limits(),
    )


def test_a_half_used_server_is_paid_in_full():
    """Load 1.5 instances of 2 devices at $1/h per device: 2 instances = 4 devices, but the
    server holds 8, so the fleet pays 8 × $1 and 4 devices idle at 50 W each."""
    problem = _one_server_type()
    found = solve_ilp(problem)
    assert found.instances.tolist() == [2] and check_solution(problem, found) == []
    totals = fleet_totals(problem, found.instances, found.share, found.pool_units)
    assert totals.fixed_usd_per_hour == pytest.approx(8 * 1.0)
    assert totals.units_bought["server"] == (1, 4)
    assert totals.peak_it_power_w == pytest.approx(2 * 400 + 4 * 50)


@pytest.mark.parametrize("name", ["mixed-agentic-owned", "long-context-coding"])
def test_owned_fleets_come_in_whole_systems(name):
    """Each owned accelerator's devices fill whole reference systems: units × size covers
    them, and fewer than one unit's worth sits idle."""
    solution = solve(PROBLEMS / f"{name}.toml")
    assert solution.success and solution.systems
    for bought in solution.systems.values():
        used = solution.devices[bought["accelerator"]]
        size = bought["devices_per_unit"]
        assert bought["units"] == -(-used // size)  # ceil
        assert bought["idle_devices"] == bought["units"] * size - used < size


def test_device_granularity_buys_devices_one_at_a_time():
    """``styles.granularity = "device"`` gives back the per-device fleet, no whole systems."""
    by_system = solve(PROBLEMS / "long-context-coding.toml")
    by_device = solve(PROBLEMS / "long-context-coding.toml",
                      overrides={"styles.granularity": "device"})  # fmt: skip
    assert not by_device.systems
    assert by_device.cost_usd_per_hour <= by_system.cost_usd_per_hour * (1 + 1e-9)


def test_rented_devices_come_in_whole_cloud_instances(tmp_path):
    """Rented devices come in whole instances of the smallest size their rate is offered in:
    with MI300X and MI325X rented only in 8s (a user catalog says so), each is bought in
    multiples of 8, the rest of the instance idle; by the device the fleet costs no more."""
    import tomli_w

    from optimizer.catalog.loader import load_catalog

    bundled = load_catalog()
    entries = [bundled.accelerators[a].model_dump(mode="json", exclude_none=True)
               for a in ("mi300x", "mi325x")]  # fmt: skip
    for entry in entries:
        entry["cloud_instance_devices"] = [8]
    (tmp_path / "instances.toml").write_text(tomli_w.dumps({"accelerator": entries}))
    problem = PROBLEMS / "coding-agent-cloud.toml"
    only = {"styles.accelerators": ["mi300x", "mi325x"]}  # so that the fleet rents them
    eights = solve(problem, catalog_dirs=[tmp_path], overrides=only)
    assert eights.success and eights.systems
    for name, bought in eights.systems.items():
        assert name == f"{bought['accelerator']} x8 instance"
        assert bought["devices_per_unit"] == 8
        used = eights.devices[bought["accelerator"]]
        assert bought["units"] == -(-used // 8) and (used + bought["idle_devices"]) % 8 == 0
    by_device = solve(problem, catalog_dirs=[tmp_path],
                      overrides=only | {"styles.granularity": "device"})  # fmt: skip
    assert not by_device.systems
    assert by_device.cost_usd_per_hour <= eights.cost_usd_per_hour * (1 + 1e-9)


def test_available_devices_count_whole_systems():
    """With 6 devices available, a fleet of 2-device instances in 8-device servers cannot be
    bought at all: one server alone is 8 devices."""
    assert solve_ilp(_one_server_type(Limits(devices={"acc": 6}))).status is Status.INFEASIBLE
    assert solve_ilp(_one_server_type(Limits(devices={"acc": 8}))).status is Status.OPTIMAL
