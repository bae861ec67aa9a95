"""Shared fixtures: small catalog directories written on the fly."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def write_catalog(tmp_path: Path):
    """Write ``{filename: toml_text}`` into a fresh directory and return its path."""

    def write(files: dict[str, str], name: str = "user-catalog") -> Path:
        directory = tmp_path / name
        directory.mkdir()
        for filename, text in files.items():
            (directory / filename).write_text(textwrap.dedent(text))
        return directory

    return write


MINIMAL_HARDWARE = """
[[memory]]
id = "hbm-x"
name = "Test HBM"
attach = "on-package"
unit = "stack"
capacity_gb_per_unit = 24.0
bandwidth_gb_per_s_per_unit = 1000.0
latency_ns = 120.0
energy_pj_per_bit = 3.9
sources = ["test fixture"]
confidence = "solid"

[[interconnect]]
id = "link-x"
name = "Test link"
scope = "scale-up"
bandwidth_gb_per_s_per_direction = 450.0
latency_us = 10.0
energy_pj_per_bit = 5.0
max_domain = 8
sources = ["test fixture"]
confidence = "solid"

[[accelerator]]
id = "acc-x"
name = "Test accelerator"
vendor = "test"
family = "test-gen1"
year = 2024
dense_tflops = { bf16 = 1000.0, fp8 = 2000.0 }
memory_type = "hbm-x"
memory_capacity_gb = 96.0
memory_bandwidth_tb_per_s = 4.0
scale_up_link = "link-x"
scale_up_domain = 8
tdp_w = 700.0
sources = ["test fixture"]
confidence = "solid"

[[system]]
id = "node-x"
name = "Test node"
kind = "node"
accelerator = "acc-x"
n_accelerators = 8
overhead_power_w = 4600.0
host_power_w = 2800.0
sources = ["test fixture"]
confidence = "solid"
"""


@pytest.fixture
def minimal_files() -> dict[str, str]:
    """A complete, valid one-entry-per-hardware-kind catalog."""
    return {"hardware.toml": MINIMAL_HARDWARE}
