"""Mutated problem files through ``hetplan solve --json``: whatever the file holds, ``run`` returns
0 (solved), 1 (infeasible, explained) or 2 (invalid input, one message), never a traceback.

The bases are small on purpose (a Mélange-style measured problem and a one-accelerator,
one-precision model-based one without memory tiers), so each solve costs about 0.1 s. Both use
HiGHS, the faster in-process solver; test_solve_cli.py covers CBC.
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.cli.main import run
from tests.toml_paths import key_paths

REPO = Path(__file__).resolve().parents[2]

MODEL = """
[problem]
name = "fuzz-model"

[[serve]]
model = "llama-3.1-8b"
workload = "chat"
requests_per_s = 10
ttft_ms = 1000
tpot_ms = 50

[objective]
kind = "cost"
pricing = "cloud"

[constraints]
power_budget_kw = 100

[styles]
accelerators = ["h100-sxm"]
precisions = ["fp8"]
tp = [1, 8]
memory_tiers = false

[solver]
name = "highs"
time_limit_s = 20
"""

MELANGE = tomllib.loads((REPO / "problems" / "melange-example.toml").read_text())
MELANGE["solver"]["name"] = "highs"
BASES = {"melange": MELANGE, "model": tomllib.loads(MODEL)}
# Catalog ids of every kind a problem refers to, valid somewhere but mostly wrong where swapped in.
IDS = ["h100-sxm", "b200", "a10g", "a100-80gb", "llama-3.1-8b", "gpt-oss-20b", "chat",
       "coding-agent", "default", "ddr5", "in0-out0", "cbc", "highs", "split"]  # fmt: skip
# Text spliced into a file: broken syntax, a second header, values the schema refuses.
JUNK = ["[", "]]", "= 1", "x = ", '"', "\x00", "[[serve]]", "[solver]\n",
        "\nrequests_per_s = -1\n", "\n[styles]\ntp = [3]\n"]  # fmt: skip

SETTINGS = dict(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


PATHS = [(base, path) for base, data in BASES.items() for path in key_paths(data)]

numbers = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(min_value=-1e3, max_value=1e3),
    st.sampled_from([0, -1, 1, 0.0, -0.0, 1e-9, 1e-300, 1e9, 1e300, 2**63 - 1, -(2**63)]),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)
nan_like = st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", "-0", "0x10", "", " "])
ids = st.one_of(
    st.sampled_from(IDS),
    st.from_regex(r"[a-z0-9][a-z0-9.\-]{0,12}", fullmatch=True),
    st.text(max_size=12),
)
values = st.one_of(
    numbers,
    nan_like,
    ids,
    st.booleans(),
    st.lists(st.one_of(st.integers(-2, 20), st.sampled_from(IDS)), max_size=3),
    st.lists(st.lists(st.floats(-1, 50), min_size=1, max_size=3), min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(["name", "id", "x", "h100-sxm"]), st.integers(), max_size=2),
)
MELANGE_DEVICES = {"a10g": st.integers(0, 4), "a100-80gb": st.integers(0, 2)}
# Limits and targets at values around what the bases need, so that some mutants are infeasible.
LIMITS = [
    ("model", ("constraints", "power_budget_kw"), st.floats(0.05, 3)),
    ("model", ("constraints", "budget_usd_per_hour"), st.floats(1, 20)),
    ("model", ("constraints", "devices"), st.fixed_dictionaries({"h100-sxm": st.integers(0, 3)})),
    ("model", ("serve", 0, "tpot_ms"), st.floats(0.5, 20)),
    ("model", ("serve", 0, "ttft_ms"), st.floats(0.5, 100)),
    ("model", ("serve", 0, "requests_per_s"), st.floats(1, 1e4)),
    ("melange", ("constraints", "budget_usd_per_hour"), st.floats(1, 10)),
    ("melange", ("constraints", "devices"), st.fixed_dictionaries(MELANGE_DEVICES)),
    ("melange", ("measured", "requests_per_s"), st.floats(1, 200)),
]
mutation = st.one_of(
    st.sampled_from(LIMITS).flatmap(
        lambda limit: st.tuples(st.just("limit"), st.just(limit[:2]), limit[2])
    ),
    st.tuples(st.just("drop"), st.sampled_from(PATHS), st.none()),
    st.tuples(st.just("value"), st.sampled_from(PATHS), values),
    st.tuples(st.just("number"), st.sampled_from(PATHS), numbers),
    st.tuples(st.just("id"), st.sampled_from(PATHS), ids),
)


def _mutate(data, path: tuple, kind: str, value) -> None:
    *parents, last = path
    for key in parents:
        creates = kind == "limit" and isinstance(data, dict)  # a limit may add its table
        data = data.setdefault(key, {}) if creates else data[key]
    if kind == "drop":
        data.pop(last)
    else:
        data[last] = value


def _solve(capsys, path: Path) -> None:
    """Solve ``path`` and check the exit code agrees with what was printed."""
    capsys.readouterr()
    code = run(["solve", str(path), "--json"])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err
    if code == 2:
        assert "error: " in err and not out.strip()
        return
    s = json.loads(out)
    assert s["schema_version"] == 1
    if code == 1:
        assert s["status"] == "infeasible"
        assert s["explanation"] and all(isinstance(x, str) and x for x in s["explanation"])
        return
    assert s["status"] in ("optimal", "feasible")
    assert math.isfinite(s["objective"]) and s["objective"] >= 0
    assert s["cost_usd_per_hour"] == pytest.approx(sum(s["cost_breakdown"].values()))
    for w in s["workloads"]:  # every class served once over, whatever the file said
        covering = [x["share"] for p in s["pools"] if p["phase"] != "decode"
                    for x in p["serves"] if x["name"] == w["name"]]  # fmt: skip
        assert sum(covering) == pytest.approx(1.0, abs=1e-6), w["name"]


@settings(max_examples=75, **SETTINGS)
@given(base=st.sampled_from(sorted(BASES)), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_problem_solves_or_fails_cleanly(capsys, tmp_path, base, mutations):
    data = copy.deepcopy(BASES[base])
    for kind, (where, path), value in mutations:
        if where != base:
            continue
        try:
            _mutate(data, path, kind, value)
        except (KeyError, IndexError, TypeError, AttributeError):
            pass  # an earlier mutation removed or replaced this one's parent
    problem = tmp_path / "problem.toml"
    problem.write_text(tomli_w.dumps(data))
    _solve(capsys, problem)


@settings(max_examples=40, **SETTINGS)
@given(
    base=st.sampled_from(sorted(BASES)),
    edit=st.sampled_from(["junk", "duplicate", "both"]),
    at=st.floats(0, 1),
    junk=st.one_of(
        st.text(max_size=20),
        st.sampled_from(JUNK),
    ),
)
def test_junk_and_duplicated_tables_fail_cleanly(capsys, tmp_path, base, edit, at, junk):
    text = tomli_w.dumps(BASES[base])
    if edit in ("duplicate", "both"):  # repeat one [table] or [[array]] block verbatim
        blocks = text.split("\n\n")
        i = min(int(at * len(blocks)), len(blocks) - 1)
        blocks.insert(i, blocks[i])
        text = "\n\n".join(blocks)
    if edit in ("junk", "both"):
        i = int(at * len(text))
        text = text[:i] + junk + text[i:]
    problem = tmp_path / "problem.toml"
    problem.write_text(text, encoding="utf-8", errors="surrogatepass")
    _solve(capsys, problem)
