"""A problem of two models is solved by parts (docs/solver.md, Parts), and says so."""

from __future__ import annotations

import io
import textwrap

from rich.console import Console

from optimizer.api import solve
from optimizer.report.solution_report import render_solution

TWO_MODELS = """
[problem]
name = "two-models"

[[serve]]
name = "small-chat"
model = "llama-3.1-8b"
workload = "chat"
requests_per_s = 20
ttft_ms = 1000
tpot_ms = 50

[[serve]]
name = "large-coding"
model = "llama-3.3-70b"
workload = "coding-agent"
requests_per_s = 4
ttft_ms = 2000
tpot_ms = 50

[objective]
kind = "cost"
pricing = "cloud"

[styles]
accelerators = ["h100-sxm", "l40s", "mi300x"]
precisions = ["fp8"]
tp = [1, 2, 4]
"""


def test_two_models_are_two_parts_and_the_report_says_so(tmp_path):
    path = tmp_path / "two.toml"
    path.write_text(textwrap.dedent(TWO_MODELS))
    separate = solve(path, overrides={"styles.memory_tiers": "false"})
    assert separate.success and separate.status == "optimal"
    assert (separate.solver["parts"], separate.solver["coupled"]) == (2, False)
    models = {p.name.split("/")[0] for p in separate.pools}
    assert models == {"llama-3.1-8b", "llama-3.3-70b"}
    out = Console(width=120, file=io.StringIO(), record=True)
    render_solution(separate.to_dict(), out)
    assert ", 2 parts" in out.export_text()
