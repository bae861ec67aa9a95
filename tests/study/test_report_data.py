"""The study report's numbers and renderers on small hand-made tables: findings against values
worked out by hand, the Pareto front against a brute-force check, figures that come out the
same byte for byte, and pages that hold what the data says."""

from __future__ import annotations

import itertools
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from optimizer.report.study_data import (
    Highest,
    Range,
    StudyMeta,
    Threshold,
    build_report_data,
    change_text,
    highest_table,
    pareto_front,
    range_table,
    slices,
    threshold_table,
)
from optimizer.report.study_pages import render_html, render_markdown
from optimizer.report.study_plots import draw_figure, plan_figures

FIGURES = {
    "cost_usd_per_hour": 1.0,
    "usd_per_million_output_tokens": 1.0,
    "power_w": 1000.0,
    "average_power_w": 800.0,
    "energy_j_per_token": 1.0,
}


def frame_of(rows: list[dict], axes: tuple[str, ...]) -> pd.DataFrame:
    """A points table like ``points_frame`` writes, from rows giving the axes and whatever
    figures the test cares about (the rest filled in, the same at every point)."""
    full = []
    for i, row in enumerate(rows):
        solved = row.get("status", "optimal") in ("optimal", "feasible")
        kind = row.get("kind", "cost")
        units = "usd_per_hour" if kind == "cost" else "facility_kwh_per_hour"
        full.append({
            "point": i, "point_hash": f"h{i}", **{a: row[a] for a in axes},
            "status": row.get("status", "optimal"), "message": row.get("message", "solved"),
            "objective_kind": kind if solved else None,
            "objective": row.get("objective") if solved else None,
            "objective_units": units if solved else None, "gap": 0.0 if solved else None,
            **{c: row.get(c, v) if solved else None for c, v in FIGURES.items()},
            "n_devices": 2 if solved else None,
            "pools": "2x a/tp1/fp8/aggregated" if solved else None, "walls": "slo",
            "saving_vs_homogeneous_aggregated_pct": row.get("saving"),
            "saving_vs_homogeneous_disaggregated_pct": None,
            "saving_vs_no_memory_tiers_pct": None,
            "devices.a": row.get("a", 2) if solved else None,
            "devices.b": row.get("b", 0) if solved else None, "wall_s": 0.1,
        })  # fmt: skip
    frame = pd.DataFrame(full)
    for column in ("devices.a", "devices.b", "n_devices"):
        frame[column] = frame[column].astype("Int64")
    return frame


def meta_of(axes: tuple[str, ...], n_planned: int, design: str = "grid") -> StudyMeta:
    return StudyMeta("tiny", "a hand-made table", "tiny.toml", axes, n_planned, design)


ONE_AXIS = [
    {"x": 1, "objective": 10.0, "usd_per_million_output_tokens": 8.0, "energy_j_per_token": 5.0},
    {"x": 2, "objective": 15.0, "usd_per_million_output_tokens": 6.0, "energy_j_per_token": 3.0},
    {"x": 4, "objective": 30.0, "usd_per_million_output_tokens": 2.0, "energy_j_per_token": 4.0},
]


def test_findings_of_one_axis_match_the_hand_computed_changes():
    data = build_report_data(frame_of(ONE_AXIS, ("x",)), meta_of(("x",), 3))
    # objective 10 -> 30: 3.0x; x 1 -> 4: 4.0x; $/M 8 -> 2: falls 75 %; J 5 -> 4: falls 20 %,
    # lowest 3 at x = 2 and highest 5 at x = 1 (not monotone)
    assert data.findings == ((
        "x",
        ("As x grows 4.0× (1 → 4), objective (cost) grows 3.0× (10.00 → 30.00 $/h); "
         "cost per million output tokens falls 75 % (8.00 → 2.00 $); "
         "energy per output token falls 20 % (5.00 → 4.00 J), not monotonically "
         "(lowest 3.00 at x = 2, highest 5.00 at 1)",),
    ),)  # fmt: skip


def test_findings_of_a_grid_hold_the_other_axis_fixed():
    rows = [
        {"x": x, "k": k, "kind": k, "objective": objective}
        for (x, k), objective in zip(
            itertools.product([10, 40], ["cost", "energy"]), [5.0, 2.0, 5.0, 1.0], strict=True
        )
    ]
    data = build_report_data(frame_of(rows, ("x", "k")), meta_of(("x", "k"), 4))
    assert data.numeric_axes == ("x",) and data.categorical_axes == ("k",)
    (axis, sentences), = data.findings  # fmt: skip
    assert axis == "x"
    # cost: 5 -> 5 stays; energy: 2 -> 1 falls 50 %; x 10 -> 40 grows 4.0x
    assert sentences[0].startswith(
        "k = cost: as x grows 4.0× (10 → 40), objective (cost) stays at 5.00 $/h;"
    )
    assert sentences[1].startswith(
        "k = energy: as x grows 4.0× (10 → 40), objective (energy) falls 50 % (2.00 → 1.00 "
        "facility kWh/h);"
    )


def test_a_slice_names_its_fixed_axes_once_and_gives_their_values_for_a_legend():
    """A 2 × 2 grid of x and k: against x, one slice per k, labelled "k = cost" in sentences
    and "cost" under a legend titled "k"."""
    rows = [{"x": x, "k": k, "kind": "cost", "objective": 1.0}
            for x, k in itertools.product([10, 40], ["cost", "energy"])]  # fmt: skip
    found, moving = slices(frame_of(rows, ("x", "k")), "x", ("x", "k"))
    assert moving == []
    assert [(s.label, s.key, s.fields) for s in found] == [
        ("k = cost", "cost", ("k",)),
        ("k = energy", "energy", ("k",)),
    ]
    assert [s.rows for s in found] == [(0, 2), (1, 3)]


def test_a_zip_partner_axis_is_named_with_its_lead_not_described_again():
    rows = [{"x": x, "y": 3 * x, "objective": float(x)} for x in (1, 2, 8)]
    data = build_report_data(frame_of(rows, ("x", "y")), meta_of(("x", "y"), 3, "zip"))
    assert data.numeric_axes == ("x",)
    ((axis, (sentence,)),) = data.findings
    assert sentence.startswith(
        "As x grows 8.0× (1 → 8) (y moves with it), objective (cost) grows 8.0× (1.00 → 8.00 $/h)"
    )


def test_random_design_axes_are_each_described_with_the_others_not_held_fixed():
    rows = [{"x": x, "y": y, "objective": float(x)} for x, y in ((1, 7), (2, 3), (8, 5))]
    data = build_report_data(frame_of(rows, ("x", "y")), meta_of(("x", "y"), 3, "random"))
    assert data.numeric_axes == ("x", "y")
    assert data.findings[0][1][0].startswith("As x grows 8.0× (1 → 8) (y not held fixed), ")
    # y: 3 -> 7, the points 1 (objective 2) and 0 (objective 1)
    assert data.findings[1][1][0].startswith(
        "As y grows 2.3× (3 → 7) (x not held fixed), objective (cost) falls 50 % (2.00 → 1.00"
    )


def test_failed_points_are_counted_listed_and_left_out_of_findings_and_extremes():
    rows = [*ONE_AXIS, {"x": 8, "status": "error", "message": "base.toml: bad rate"}]
    rows.append({"x": 16, "status": "infeasible", "message": "no candidate"})
    data = build_report_data(frame_of(rows, ("x",)), meta_of(("x",), 6))
    assert data.counts == {"error": 1, "infeasible": 1, "optimal": 3}
    assert data.n_rows == 5 and data.n_answered == 3
    assert data.failures == ("point 3: error: base.toml: bad rate",
                             "point 4: infeasible: no candidate")  # fmt: skip
    assert data.findings[0][1][0].startswith("As x grows 4.0× (1 → 4),")  # answered ends
    objective = data.extremes[0]
    assert (objective.figure, objective.low, objective.high) == ("objective, cost ($/h)",
                                                                 "10.00", "30.00")  # fmt: skip
    assert objective.low_at == "point 0 (x = 1)" and objective.high_at == "point 2 (x = 4)"
    assert len(data.table_rows) == 5 and data.table_rows[3][2] == "error"


@pytest.mark.parametrize(
    ("low", "high", "text"),
    [
        (2.0, 5.0, "grows 2.5× (2.00 → 5.00 $)"),
        (100.0, 95.0, "falls 5 % (100.0 → 95.00 $)"),
        (3.0, 3.0, "stays at 3.00 $"),
        (-1.0, 2.0, "goes from -1.00 to 2.00 $"),
        (1.0, 1500.0, "grows 1,500× (1.00 → 1,500 $)"),
    ],
)
def test_change_text_says_the_ratio_or_the_fall(low, high, text):
    assert change_text(low, high, "$") == text


def _brute_force_front(x, y) -> np.ndarray:
    n = len(x)
    return np.array([
        not any(x[j] <= x[i] and y[j] <= y[i] and (x[j] < x[i] or y[j] < y[i])
                for j in range(n))
        for i in range(n)
    ])  # fmt: skip


@pytest.mark.parametrize("seed", range(8))
def test_pareto_front_matches_a_brute_force_check(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    x = rng.integers(0, 8, n).astype(float)  # few values: ties and duplicates
    y = rng.integers(0, 8, n).astype(float)
    assert (pareto_front(x, y) == _brute_force_front(x, y)).all()


def test_pareto_is_marked_only_when_cost_and_energy_both_vary():
    data = build_report_data(frame_of(ONE_AXIS, ("x",)), meta_of(("x",), 3))
    assert data.pareto is None  # cost and average power are the same at every point
    rows = [
        {**ONE_AXIS[0], "cost_usd_per_hour": 1.0, "average_power_w": 300.0},
        {**ONE_AXIS[1], "cost_usd_per_hour": 2.0, "average_power_w": 100.0},
        {**ONE_AXIS[2], "cost_usd_per_hour": 3.0, "average_power_w": 200.0},
    ]
    data = build_report_data(frame_of(rows, ("x",)), meta_of(("x",), 3))
    assert data.pareto.y_column == "average_power_w"
    assert data.pareto.front == (True, True, False)  # 3 $/h, 200 W loses to 2 $/h, 100 W
    assert data.pareto_text.startswith("2 of 3 answered points are Pareto-optimal")


GRID = [
    {"x": x, "k": k, "kind": k, "objective": float(x) * (1 if k == "cost" else 0.3),
     "cost_usd_per_hour": float(x), "average_power_w": 1000.0 / x, "a": x, "b": 1,
     "saving": 10.0 / x}
    for x, k in itertools.product([1, 2, 4, 8], ["cost", "energy"])
]  # fmt: skip


def _figures(rows, axes):
    frame = frame_of(rows, axes)
    data = build_report_data(frame, meta_of(axes, len(rows)))
    return data, [draw_figure(p, frame, data) for p in plan_figures(data, frame)]


@pytest.fixture(scope="module")
def grid_figures():
    return _figures(GRID, ("x", "k"))


def test_figures_are_planned_from_what_varies_and_come_out_the_same_bytes_twice(grid_figures):
    data, first = grid_figures
    # no objective figure against k: it sets the objective's kind, so units differ across it
    assert [f.plan.name for f in first] == [
        "objective_vs_x", "devices_vs_x", "savings_vs_x", "pareto_cost_vs_average_power_w",
    ]  # fmt: skip
    _, second = _figures(GRID, ("x", "k"))
    for a, b in zip(first, second, strict=True):
        assert a.svg == b.svg and a.png == b.png, a.plan.name
        assert a.png.startswith(b"\x89PNG") and b"<svg" in a.svg
        assert b"<dc:date>" not in a.svg  # no timestamp


class _Page(HTMLParser):
    """Tags, ids and outside references of an HTML page."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        self.ids += [attrs["id"]] if "id" in attrs else []
        self.links += [v for k, v in attrs.items() if k in ("src", "href") and v]


def test_html_is_one_self_contained_page_with_unique_ids(grid_figures):
    data, figures = grid_figures
    html = render_html(data, figures)
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    page = _Page()
    page.feed(html)
    assert page.tags.count("title") == 1 and "script" not in page.tags
    assert page.tags.count("svg") == len(figures) == 4
    assert len(page.ids) == len(set(page.ids)), "ids shared between inline figures"
    assert all(link.startswith("#") for link in page.links), page.links  # nothing outside
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html and "<metadata" not in html


def test_markdown_links_each_figure_and_tables_every_point(grid_figures):
    data, figures = grid_figures
    text = render_markdown(data, figures)
    assert text.startswith("# Study report: tiny\n\na hand-made table\n")
    for figure in figures:
        assert f"]({figure.plan.name}.png)" in text and f"]({figure.plan.name}.svg)" in text
    points = text.split("## Points\n", 1)[1]
    assert sum(line.startswith("| ") for line in points.splitlines()) == 1 + len(GRID)


def test_a_table_without_an_answer_has_no_figures_and_says_so():
    rows = [{"x": 1, "status": "error", "message": "bad"}, {"x": 2, "status": "timeout"}]
    frame = frame_of(rows, ("x",))
    data = build_report_data(frame, meta_of(("x",), 3))
    assert plan_figures(data, frame) == []
    assert data.findings == () and data.extremes == () and data.pareto is None
    text = render_markdown(data, [])
    assert "2 of 3 points in the table (1 error, 1 timeout); 1 not run yet" in text
    assert "nothing to compare" in text and "<svg" not in render_html(data, [])


def _estimates() -> pd.DataFrame:
    """An estimate table of two accelerators along a context axis (hand-made)."""
    rows = [
        ("a", 1, "ok", "slo", 100, 1e9), ("a", 2, "ok", "capacity", 20, 2e9),
        ("a", 4, "ok", "capacity", 5, 4e9), ("a", 8, "infeasible", None, None, None),
        ("b", 1, "ok", "slo", 50, 1e9), ("b", 2, "ok", "slo", 9, 3e9),
        ("b", 4, "ok", "slo", 7, 5e9), ("b", 8, "ok", "slo", 2, 7e9),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["acc", "ctx", "status", "bound", "capacity_max_batch",
                                        "cf_bytes_per_request"])  # fmt: skip
    frame["capacity_max_batch"] = frame["capacity_max_batch"].astype("Int64")
    return frame.sample(frac=1.0, random_state=0)  # the order must not matter


def test_threshold_finding_gives_the_first_axis_value_per_combination():
    frame = _estimates()
    wall = threshold_table(frame, Threshold("ctx", "bound", equals="capacity"), ("acc", "ctx"))
    # a: capacity first at 2, no answer from 8 on; b: never capacity-bound, always answered
    assert sorted(wall.rows) == [("a", "2", "8", "8"), ("b", "never", "—", "8")]
    assert "reached in 1 of 2 combinations" in wall.sentence
    small = threshold_table(frame, Threshold("ctx", "capacity_max_batch", below=8), ("acc", "ctx"))
    assert sorted(row[:2] for row in small.rows) == [("a", "4"), ("b", "4")]


def test_range_finding_gives_lowest_and_highest_per_group_in_display_units():
    table = range_table(_estimates(), Range(("acc",), ("cf_bytes_per_request",)))
    assert table.header == ("acc", "cf_bytes_per_request (GB per request)", "points")
    # a: 1, 2, 4 GB over its three answered points; b: 1 to 7 GB over four
    assert sorted(table.rows) == [("a", "1.00 – 4.00", "3"), ("b", "1.00 – 7.00", "4")]


def _tier_prices() -> pd.DataFrame:
    """A solve table of two tiers at two contexts along a tier price (hand-made): the GB of
    tier the optimum buys at each price, one infeasible point."""
    rows = [
        # ddr5 at 8k: bought up to 2 $/GB, not from 4 on
        ("ddr5", 8, 1.0, "optimal", 512.0), ("ddr5", 8, 2.0, "optimal", 256.0),
        ("ddr5", 8, 4.0, "optimal", 0.0), ("ddr5", 8, 8.0, "optimal", 0.0),
        # ddr5 at 1M: bought at every price tried (the crossing lies beyond 8)
        ("ddr5", 1000, 1.0, "optimal", 4096.0), ("ddr5", 1000, 2.0, "optimal", 4096.0),
        ("ddr5", 1000, 4.0, "optimal", 2048.0), ("ddr5", 1000, 8.0, "optimal", 1024.0),
        # pool at 8k: never bought
        ("pool", 8, 1.0, "optimal", 0.0), ("pool", 8, 2.0, "optimal", 0.0),
        ("pool", 8, 4.0, "optimal", 0.0), ("pool", 8, 8.0, "infeasible", None),
        # pool at 1M: bought at 1 and 4, not at 2 (not monotone), infeasible at 8
        ("pool", 1000, 1.0, "optimal", 32000.0), ("pool", 1000, 2.0, "optimal", 0.0),
        ("pool", 1000, 4.0, "optimal", 32000.0), ("pool", 1000, 8.0, "infeasible", None),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["tier", "ctx", "price", "status", "tier_gb"])
    frame["objective"] = np.where(frame["status"] == "optimal", 1.0, np.nan)  # answered: a fleet
    return frame.sample(frac=1.0, random_state=1)  # the order must not matter


def test_highest_finding_gives_the_last_axis_value_and_the_bracket_per_combination():
    table = highest_table(_tier_prices(), Highest("price", "tier_gb", above=0.0),
                          ("tier", "ctx", "price"))  # fmt: skip
    assert table.header == ("tier", "ctx", "highest price where tier_gb > 0", "next price tried",
                            "lowest price where not", "highest price answered")  # fmt: skip
    assert sorted(table.rows) == [
        ("ddr5", "1000", "8", "—", "—", "8"),  # holds at every price: beyond the range
        ("ddr5", "8", "2", "4", "4", "8"),  # bought at 2, not at 4: the crossing in (2, 4]
        ("pool", "1000", "4", "—", "2", "4"),  # fails at 2 below 4: not monotone; 8 unanswered
        ("pool", "8", "never", "1", "1", "4"),
    ]
    assert "holds somewhere in 3 of 4 combinations" in table.sentence


def test_highest_finding_takes_a_text_condition():
    frame = _estimates()
    table = highest_table(frame, Highest("ctx", "bound", equals="slo"), ("acc", "ctx"))
    # a: slo only at 1, capacity from 2; b: slo at every answered context up to 8
    assert sorted(table.rows) == [("a", "1", "2", "2", "4"), ("b", "8", "—", "—", "8")]
