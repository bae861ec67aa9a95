"""The co-design file: what it accepts, what it refuses (one FILE: ENTRY: FIELD line per
problem, every problem at once) and the search space it gives the sampler."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.codesign.space import search_space
from optimizer.codesign.spec import CodesignError, load_codesign

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "problems" / "codesign" / "short-sessions.toml"

GOOD = f"""
[codesign]
name = "tiny"
objectives = ["cost", "energy"]

[[problem]]
file = "{BASE}"
weight = 2

[decode]
node = ["n5", "n4"]
dense_fp8_tflops = {{ low = 200, high = 2000, log = true }}
memory = "hbm3e"
memory_stacks = {{ low = 2, high = 8 }}
scale_up_gb_per_s = [450, 900]
scale_up_domain = 8
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "codesign.toml"
    path.write_text(text)
    return path


def test_a_good_file_gives_the_varied_knobs_and_the_fixed_values(tmp_path):
    codesign = load_codesign(_write(tmp_path, GOOD))
    assert codesign.problems == (BASE,)
    assert codesign.spec.problem[0].weight == 2
    knobs, fixed = search_space(codesign)
    by_name = {k.name: k for k in knobs}
    assert set(by_name) == {
        "decode.node", "decode.dense_fp8_tflops", "decode.memory_stacks",
        "decode.scale_up_gb_per_s",
    }  # fmt: skip
    assert by_name["decode.node"].choices == ("n5", "n4")
    assert (by_name["decode.dense_fp8_tflops"].low, by_name["decode.dense_fp8_tflops"].log) == (
        200,
        True,
    )
    stacks = by_name["decode.memory_stacks"]
    assert (stacks.low, stacks.high, stacks.integer) == (2, 8, True)
    assert fixed == {"decode.memory": "hbm3e", "decode.scale_up_domain": 8}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("memory_stacks = { low = 2, high = 8 }", "memory_stacks = { low = 2.5, high = 8 }"),
         "codesign.toml: decode: memory_stacks: takes whole numbers"),
        (("dense_fp8_tflops = { low = 200, high = 2000, log = true }",
          "dense_fp8_tflops = { low = 2000, high = 200 }"),
         "codesign.toml: decode: dense_fp8_tflops.high: must be > low"),
        (('memory = "hbm3e"', "memory = { low = 1, high = 2 }"),
         "codesign.toml: decode: memory: names an entry"),
        (("scale_up_gb_per_s = [450, 900]", "scale_up_gb_per_s = [450, -1]"),
         "codesign.toml: decode: scale_up_gb_per_s: must be > 0"),
        (('objectives = ["cost", "energy"]', 'objectives = ["speed"]'),
         "codesign.toml: codesign: objectives.0: "),
        (("weight = 2", "weight = 0"), "codesign.toml: problem[0]: weight: "),
        ((f'file = "{BASE}"', 'file = "missing.toml"'),
         "codesign.toml: problem[0]: file: no such file 'missing.toml'"),
        (("scale_up_domain = 8", "scale_up_domain = 8\ncolour = 1"),
         "codesign.toml: decode: colour: unknown key"),
    ],
)  # fmt: skip
def test_a_bad_field_is_named_with_file_entry_and_field(tmp_path, change, where):
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(CodesignError) as caught:
        load_codesign(_write(tmp_path, text))
    assert any(where in line for line in str(caught.value).splitlines()), caught.value


def test_every_problem_is_said_at_once_and_a_part_is_required(tmp_path):
    text = GOOD.replace("[decode]", "[pool]").replace("weight = 2", "weight = -1")
    with pytest.raises(CodesignError) as caught:
        load_codesign(_write(tmp_path, text))
    lines = str(caught.value).splitlines()
    assert len(lines) >= 2
    assert any("problem[0]: weight" in line for line in lines)


def test_the_bundled_example_loads():
    codesign = load_codesign(ROOT / "problems" / "codesign-agentic.toml")
    knobs, _ = search_space(codesign)
    assert knobs and all(p.is_file() for p in codesign.problems)


def test_a_node_or_memory_the_constants_lack_is_said_before_any_search(tmp_path):
    text = GOOD.replace('node = ["n5", "n4"]', 'node = ["n5", "n2"]').replace(
        'memory = "hbm3e"', 'memory = "hbm9"'
    )
    with pytest.raises(CodesignError) as caught:
        load_codesign(_write(tmp_path, text))
    lines = str(caught.value).splitlines()
    assert any("decode: node: no node 'n2' in the co-design constants" in x for x in lines)
    assert any("decode: memory: no memory 'hbm9'" in x for x in lines)
