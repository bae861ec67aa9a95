"""Progress of long solves (issue 12, item 5): one stderr line every 10 s of a HiGHS solve with
its elapsed time, incumbent, bound and gap; nothing on stdout."""

from __future__ import annotations

from types import SimpleNamespace

from optimizer.search.ilp import _Progress


def _event(running_time, best, bound, gap, nodes=0):
    out = SimpleNamespace(running_time=running_time, mip_primal_bound=best,
                          mip_dual_bound=bound, mip_gap=gap, mip_node_count=nodes)  # fmt: skip
    return SimpleNamespace(data_out=out)


def test_a_line_every_ten_seconds_on_stderr_only(capsys):
    progress = _Progress("fleet, part 2 of 4")
    for t in (0.5, 3.0, 9.9):  # a short solve says nothing
        progress(_event(t, float("inf"), 1.0, float("inf")))
    progress(_event(10.2, float("inf"), 8.2821, float("inf"), nodes=3))
    progress(_event(12.0, 8.57205, 8.2821, 0.0338))  # within 10 s of the last line: quiet
    progress(_event(20.4, 8.56328, 8.471, 0.0108, nodes=1301))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "solving fleet, part 2 of 4: 10 s, no fleet yet, bound 8.2821, 3 nodes",
        "solving fleet, part 2 of 4: 20 s, best 8.56328, gap 1.08%, bound 8.471, 1301 nodes",
    ]
