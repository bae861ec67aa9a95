"""Field errors reach the user under the flag they typed: every request field a command takes
maps, through the one table in ``optimizer.cli.flags``, to an option that command has."""

from __future__ import annotations

from dataclasses import fields

import pytest
import typer

from optimizer.api import AnalyzeRequest, EstimateRequest, FieldError
from optimizer.cli.flags import field_error_text, flag
from optimizer.cli.main import app, run


def _options(command: str) -> set[str]:
    click_command = typer.main.get_command(app).commands[command]
    return {opt for param in click_command.params for opt in param.opts}


@pytest.mark.parametrize(("command", "request_type"),
                         [("estimate", EstimateRequest), ("analyze", AnalyzeRequest)])  # fmt: skip
def test_every_request_field_has_its_flag(command, request_type):
    options = _options(command)
    assert {flag(f.name) for f in fields(request_type)} <= options


def test_a_field_error_names_every_field_by_its_flag():
    error = FieldError("workload", "replaces {input_tokens}/{output_tokens}; give one")
    assert str(error) == "workload: replaces input_tokens/output_tokens; give one"
    assert field_error_text(error) == (
        "--workload: replaces --input-tokens/--output-tokens; give one"
    )


def test_the_cli_prints_the_flag(capsys):
    argv = ["estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm",
            "--input-tokens", "100", "--output-tokens", "10", "--tier-gb", "64"]  # fmt: skip
    assert run(argv) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --tier: goes with --tier-gb and --tier-use: give all three or none"
    )
