"""The first stage's speculative checks run only on cores of their own (provision.py:
``_cores_for_first_checks``): the stage, the baselines solved beside it and the two checks
each need one, else the checks slow the stage they are meant to save time on."""

from __future__ import annotations

import pytest

from optimizer.search import provision


@pytest.mark.parametrize(
    ("cores", "workers", "baselines", "expected"),
    [
        # with baselines, two of them (of three; the optimum starts from the first to finish)
        # run beside the stage: 1 + 2 + 2 checks = 5 cores
        (2, None, True, False),
        (4, None, True, False),
        (5, None, True, True),
        (16, None, True, True),
        # two workers: one thread for the stage, one for the baselines: 1 + 1 + 2 = 4 cores
        (4, 2, True, True),
        (3, 2, True, False),
        # without baselines the stage runs alone: 1 + 2 = 3 cores
        (2, None, False, False),
        (3, None, False, True),
        # one worker runs everything in turn: nothing runs beside a stage
        (16, 1, True, False),
        (16, 1, False, False),
    ],
)
def test_checks_beside_the_first_stage_need_cores_of_their_own(
    monkeypatch, cores, workers, baselines, expected
):
    monkeypatch.setattr(provision.os, "cpu_count", lambda: cores)
    assert provision._cores_for_first_checks(workers, baselines) is expected
