"""A workload's mean turn, and the same workload at another context."""

from __future__ import annotations

import pytest

from optimizer.catalog.loader import load_catalog
from optimizer.workload.requests import representative_request


@pytest.fixture(scope="module")
def web_agent():
    return load_catalog().workloads["web-agent"]


def test_mean_turn_of_an_accumulating_workload_is_its_mid_session_context(web_agent):
    shape = representative_request(web_agent)
    # 2,000 initial + 1,500 new + (25 - 1) / 2 × (1,500 new + 200 output) = 23,900 tokens,
    # under the 40,000-token cap; 90 % of it cached, all but the turn's new tokens parkable
    assert shape.input_tokens == pytest.approx(23_900)
    assert shape.prefix_tokens == pytest.approx(0.9 * 23_900)
    assert shape.parkable_tokens == pytest.approx(23_900 - 1_500)
    assert shape.output_tokens == 200


def test_a_given_context_replaces_the_workloads_and_passes_its_cap(web_agent):
    shape = representative_request(web_agent, context_tokens=100_000)
    # 100,000 tokens although the workload caps its own at 40,000; its output, cache-hit
    # fraction and new tokens stay: 90,000 cached, 98,500 parkable
    assert (shape.input_tokens, shape.output_tokens) == (100_000, 200)
    assert shape.prefix_tokens == pytest.approx(90_000)
    assert shape.parkable_tokens == pytest.approx(98_500)
