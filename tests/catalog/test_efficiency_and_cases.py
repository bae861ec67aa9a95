"""Efficiency factor entries (schema, efficiency files, tables by family) and calibration case
CSVs (parsing and errors that name file, case id and column)."""

from __future__ import annotations

import csv
import io
import textwrap
from pathlib import Path

import pytest

from optimizer.catalog.cases import COLUMNS, SCENARIOS, load_cases
from optimizer.catalog.loader import bundled_catalog_dir, load_catalog, load_efficiency_file
from optimizer.errors import CatalogError
from optimizer.perf.efficiency import (
    SOL,
    EfficiencyTable,
    Phase,
    PhaseEfficiency,
    table_from_entries,
)
from tests.conftest import MINIMAL_HARDWARE

PUBLISHED = bundled_catalog_dir() / "measurements" / "published.csv"


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.fixture(scope="module")
def published():
    return load_cases(PUBLISHED)


# ---------------------------------------------------------------- efficiency entries

ENTRY = """
[[efficiency]]
id = "{id}"
name = "test factors"
family = "{family}"
phase = "{phase}"
compute = {compute}
memory = 0.8
overhead_us_per_layer = 100.0
hop_latency_scale = 0.5
fit_rows = 10
sources = ["test"]
confidence = "uncertain"
"""


def _entry(id="fam-x-decode", family="fam-x", phase="decode", compute=0.5) -> str:
    return ENTRY.format(id=id, family=family, phase=phase, compute=compute)


def _write(tmp_path: Path, text: str, name: str = "eff.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _problems(path: Path) -> list:
    with pytest.raises(CatalogError) as caught:
        load_efficiency_file(path)
    return caught.value.problems


def test_load_efficiency_file_reads_entries(tmp_path):
    text = _entry() + _entry(id="fam-x-prefill", phase="prefill", compute=0.7)
    entries = load_efficiency_file(_write(tmp_path, text))
    assert [(e.id, e.phase, e.compute) for e in entries] == [
        ("fam-x-decode", "decode", 0.5),
        ("fam-x-prefill", "prefill", 0.7),
    ]
    e = entries[0]
    assert e.overhead_us_per_sequence is None and e.link is None  # the engine's
    assert e.fit_median_abs_error is None


@pytest.mark.parametrize(
    ("entry_id", "family", "phase"),
    [("fam-x", "fam-x", "decode"), ("fam-y-decode", "fam-x", "decode"),
     ("fam-x-prefill", "fam-x", "decode")],
)  # fmt: skip
def test_efficiency_id_must_be_family_phase(tmp_path, entry_id, family, phase):
    problems = _problems(_write(tmp_path, _entry(id=entry_id, family=family, phase=phase)))
    assert len(problems) == 1
    p = problems[0]
    assert p.file.endswith("eff.toml") and p.entry == entry_id
    assert p.field == "id"
    assert "FAMILY-PHASE" in p.message and f"{family}-{phase}" in p.message


@pytest.mark.parametrize("compute", [0, 1.5, -0.1])
def test_efficiency_compute_must_be_a_fraction(tmp_path, compute):
    problems = _problems(_write(tmp_path, _entry(compute=compute)))
    assert [(p.entry, p.field) for p in problems] == [("fam-x-decode", "compute")]
    assert repr(compute) in problems[0].message or str(compute) in problems[0].message


def test_efficiency_bad_phase_and_link(tmp_path):
    text = _entry(phase="train", id="fam-x-train") + "link = 1.2\n"
    fields = {p.field for p in _problems(_write(tmp_path, text))}
    assert {"phase", "link"} <= fields


def test_efficiency_file_with_other_sections(tmp_path):
    text = _entry() + textwrap.dedent("""
        [[interconnect]]
        id = "link-x"
        name = "Test link"
        scope = "scale-up"
        bandwidth_gb_per_s_per_direction = 450.0
        latency_us = 10.0
        energy_pj_per_bit = 5.0
        max_domain = 8
        sources = ["test"]
        confidence = "solid"
    """)
    problems = _problems(_write(tmp_path, text))
    assert len(problems) == 1
    assert problems[0].entry == "link-x"
    assert "only [[efficiency]]" in problems[0].message


def test_efficiency_file_with_an_accelerator(tmp_path):
    accelerator = MINIMAL_HARDWARE[MINIMAL_HARDWARE.index("[[accelerator]]") :]
    accelerator = accelerator[: accelerator.index("[[system]]")]
    problems = _problems(_write(tmp_path, _entry() + accelerator))
    assert [(p.entry, p.field) for p in problems] == [("acc-x", "")]
    assert "only [[efficiency]]" in problems[0].message
    # an incomplete one is reported too
    problems = _problems(
        _write(tmp_path, _entry() + '\n[[accelerator]]\nid = "acc-y"\n', "b.toml")
    )
    assert problems and all(p.entry == "acc-y" for p in problems)


def test_efficiency_file_empty_missing_duplicate(tmp_path):
    (empty,) = _problems(_write(tmp_path, "# nothing\n", "empty.toml"))
    assert "no [[efficiency]]" in empty.message
    (missing,) = _problems(tmp_path / "nope.toml")
    assert "no such file" in missing.message
    dup = _problems(_write(tmp_path, _entry() + _entry(), "dup.toml"))
    assert [(p.entry, p.field) for p in dup] == [("fam-x-decode", "id")]
    assert "duplicate" in dup[0].message


def test_bundled_efficiency_entries(cat):
    """Hardware factors per family say where each came from; the pooled entries were fitted on
    every row; families the fit could not see are assumed from a named family."""
    assert {"default-prefill", "default-decode", "nvidia-hopper-decode"} <= set(cat.efficiency)
    for e in cat.efficiency.values():
        assert e.id == f"{e.family}-{e.phase}"
        assert 0 < e.compute <= 1 and 0 < e.memory <= 1
        assert e.overhead_us_per_layer is None and e.link is None  # the engine's
        # a prompt step's routed experts keep the dense rate; a decode step's one shared value
        assert set(e.provenance) == {"compute", "memory", "expert"}
        for said in e.provenance.values():
            assert said.startswith(("fitted on", "pooled:", "assumed:"))
        if e.family == "default":
            assert e.fit_rows >= 600
        if e.phase == "decode":
            assert 0.2 <= e.expert == cat.efficiency["default-decode"].expert < 1
        else:
            assert e.expert == 1.0 and e.provenance["expert"].startswith("assumed: 1")
    kin = {  # families no published row fits, and the fitted family each takes its factors from
        "nvidia-blackwell-ultra": "nvidia-blackwell",
        "nvidia-ada": "nvidia-blackwell-rtx",
        "amd-cdna4": "amd-cdna3",
        "nvidia-rubin": "nvidia-blackwell",
    }
    for family, like in kin.items():
        for phase in ("prefill", "decode"):
            assumed = cat.efficiency[f"{family}-{phase}"]
            source = cat.efficiency[f"{like}-{phase}"]
            assert assumed.provenance["compute"].startswith(f"assumed: {like}'s value")
            assert (assumed.compute, assumed.memory) == (source.compute, source.memory)


def test_bundled_overhead_entries(cat):
    assert {"default-decode-overhead", "trtllm-decode-overhead"} <= set(cat.overheads)
    for e in cat.overheads.values():
        assert e.id == f"{e.engine}-{e.phase}-overhead"
        assert e.engine == "default" or e.engine in cat.engines
        assert 0 < e.link <= 1 and e.overhead_us_per_layer >= 0
        if e.phase == "prefill":  # a prompt step is never a captured graph
            assert e.graph_overhead_us_per_layer == e.overhead_us_per_layer
            assert e.overhead_us_per_sequence == 0.0


class _E:
    """A stand-in for an EfficiencyFactors entry (table_from_entries reads attributes)."""

    def __init__(self, family, phase, compute, memory=0.9, overhead=0.0, hop=0.0, seq=0.0, link=1,
                 expert=None):  # fmt: skip
        self.family, self.phase = family, phase
        self.compute, self.memory, self.expert = compute, memory, expert
        self.overhead_us_per_layer, self.hop_latency_scale = overhead, hop
        self.overhead_us_per_sequence, self.link = seq, link
        self.graph_overhead_us_per_layer = None  # written before CUDA graphs: the eager one


def test_table_borrows_default_for_a_missing_phase():
    table = table_from_entries(
        [
            _E("default", "prefill", 0.6),
            _E("default", "decode", 0.3, overhead=200.0),
            _E("fam", "decode", 0.4, memory=0.7, overhead=50.0, hop=1.0, seq=5.0, link=0.5),
        ],
        "test.toml",
    )
    fam, note = table.lookup("fam")
    assert note is None
    assert fam.decode == PhaseEfficiency(
        compute=0.4, memory=0.7, overhead_us_per_layer=50.0, graph_overhead_us_per_layer=50.0,
        hop_latency_scale=1.0, overhead_us_per_sequence=5.0, link=0.5,
    )  # fmt: skip
    assert fam.prefill == PhaseEfficiency(compute=0.6, memory=0.9)  # the default's
    assert fam.phase(Phase.DECODE) is fam.decode and fam.phase(Phase.PREFILL) is fam.prefill
    assert "test.toml" in fam.origin and "fam" in fam.origin
    other, note = table.lookup("unknown-gen")
    assert other == table.by_family["default"]
    assert "unknown-gen" in note and "default" in note


def test_an_entry_without_an_expert_factor_takes_the_default_familys():
    """``expert`` is one value for every family (files from before it have none): a family
    entry that leaves it takes the default entry's for its phase, and with no default the
    roofline's 1 (routed experts as fast as dense GEMMs, the model before the factor)."""
    table = table_from_entries(
        [_E("default", "decode", 0.5, expert=0.45), _E("default", "prefill", 0.5),
         _E("fam", "decode", 0.4), _E("fam", "prefill", 0.4, expert=0.9)],
        "t",
    )  # fmt: skip
    fam, _ = table.lookup("fam")
    assert (fam.decode.expert, fam.prefill.expert) == (0.45, 0.9)
    assert table.lookup("default")[0].prefill.expert == 1.0
    alone, _ = table_from_entries([_E("fam", "decode", 0.4)], "t").lookup("fam")
    assert alone.decode.expert == 1.0


def test_table_without_default_falls_back_to_roofline():
    table = table_from_entries([_E("fam", "decode", 0.4)], "t")
    fam, _ = table.lookup("fam")
    assert fam.prefill == PhaseEfficiency()  # no default: the roofline's phase
    got, note = table.lookup("other")
    assert got == SOL and "pure roofline" in note
    assert EfficiencyTable({}, "empty").lookup("x")[0] == SOL


def test_sol_is_the_pure_roofline():
    for phase in (SOL.prefill, SOL.decode):
        assert (phase.compute, phase.memory, phase.link) == (1.0, 1.0, 1.0)
        assert phase.overhead_us_per_layer == phase.hop_latency_scale == 0.0
        assert phase.overhead_us_per_sequence == 0.0


def test_bundled_table_lookup(cat):
    table = table_from_entries([*cat.efficiency.values(), *cat.overheads.values()], "bundled")
    hopper, note = table.lookup("nvidia-hopper", "trtllm")
    assert note is None
    entry = cat.efficiency["nvidia-hopper-decode"]
    engine = cat.overheads["trtllm-decode-overhead"]
    assert hopper.decode.compute == entry.compute
    assert hopper.decode.overhead_us_per_layer == engine.overhead_us_per_layer
    assert hopper.decode.link == engine.link


# ---------------------------------------------------------------- calibration cases


def test_published_cases(published):
    assert len(published) == 868
    assert len({c.case_id for c in published}) == 868
    first = published[0]
    assert first.case_id == "mlperf-v4.1-llama2-70b-mi300x-x1-offline-amd-tput"
    assert (first.model, first.accelerator, first.accelerators) == ("llama-2-70b", "mi300x", 1)
    assert (first.precision_weights, first.precision_kv) == ("fp8", None)
    assert (first.tp, first.pp, first.ep, first.instances) == (1, 1, None, 1)
    assert (first.input_tokens, first.output_tokens, first.batch) == (219.0, 293.2, None)
    assert (first.metric, first.value, first.unit) == (
        "output_tokens_per_s_per_accelerator",
        3062.7,
        "tok/s/accelerator",
    )
    assert isinstance(first.tp, int) and isinstance(first.input_tokens, float)
    assert {c.scenario for c in published} <= set(SCENARIOS)
    server = [c for c in published if c.scenario == "server"]
    assert server and all(c.ttft_slo_ms and c.tpot_slo_ms for c in server[:5])


GOOD_ROW = {
    "case_id": "case-a", "source": "test", "grade": "A", "model": "llama-3.1-8b",
    "accelerator": "h100-sxm", "accelerators": "1", "precision_weights": "bf16",
    "precision_kv": "", "tp": "1", "pp": "1", "ep": "", "instances": "1",
    "scenario": "offline", "input_tokens": "1000", "output_tokens": "200", "batch": "",
    "ttft_slo_ms": "", "tpot_slo_ms": "", "metric": "output_tokens_per_s_per_accelerator",
    "value": "1234.5", "unit": "tok/s", "notes": "",
}  # fmt: skip


def _csv(tmp_path: Path, rows: list[dict], columns=COLUMNS) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "cases.csv"
    path.write_text(buffer.getvalue())
    return path


def _case_problems(path: Path) -> list:
    with pytest.raises(CatalogError) as caught:
        load_cases(path)
    return caught.value.problems


def test_load_cases_good_row(tmp_path):
    (case,) = load_cases(_csv(tmp_path, [GOOD_ROW]))
    assert case.tp == 1 and case.ep is None and case.batch is None
    assert case.input_tokens == 1000.0 and case.value == 1234.5
    assert case.precision_kv is None


@pytest.mark.parametrize(
    ("column", "text", "says"),
    [
        ("tp", "two", "whole number"),
        ("tp", "1.5", "whole number"),
        ("tp", "0", "positive"),
        ("batch", "-4", "positive"),
        ("input_tokens", "lots", "a number"),
        ("value", "", "required"),
        ("value", "fast", "a number"),
        ("scenario", "batchy", "must be one of"),
        ("model", "", "required"),
        ("metric", " ", "required"),
    ],
)
def test_load_cases_bad_cell_names_file_case_and_column(tmp_path, column, text, says):
    rows = [GOOD_ROW, {**GOOD_ROW, "case_id": "case-b", column: text}]
    path = _csv(tmp_path, rows)
    problems = _case_problems(path)
    assert len(problems) == 1
    p = problems[0]
    assert (p.file, p.entry, p.field) == (str(path), "case-b", column)
    assert says in p.message
    assert str(p).startswith(f"{path}: case-b: {column}: ")


def test_load_cases_reads_the_optional_dp_column(tmp_path):
    """``dp`` (attention data-parallel ranks) is optional: blank or absent is None, else a
    whole number above 0."""
    columns = (*COLUMNS, "dp")
    rows = [{**GOOD_ROW, "dp": "8"}, {**GOOD_ROW, "case_id": "case-b", "dp": ""}]
    with_dp, blank = load_cases(_csv(tmp_path, rows, columns))
    assert with_dp.dp == 8 and isinstance(with_dp.dp, int) and blank.dp is None
    (absent,) = load_cases(_csv(tmp_path, [GOOD_ROW]))
    assert absent.dp is None
    (p,) = _case_problems(_csv(tmp_path, [{**GOOD_ROW, "dp": "0"}], columns))
    assert (p.entry, p.field) == ("case-a", "dp") and "positive" in p.message


def test_load_cases_collects_every_problem(tmp_path):
    rows = [
        {**GOOD_ROW, "case_id": "x", "tp": "a", "pp": "b"},
        {**GOOD_ROW, "case_id": "y", "scenario": "nope"},
        {**GOOD_ROW, "case_id": "y"},  # duplicate
        {**GOOD_ROW, "case_id": "", "tp": "q"},  # no id: named by its line
    ]
    problems = _case_problems(_csv(tmp_path, rows))
    got = {(p.entry, p.field) for p in problems}
    assert got == {("x", "tp"), ("x", "pp"), ("y", "scenario"), ("y", "case_id"), ("line 5", "tp")}


def test_load_cases_missing_column_and_unreadable(tmp_path):
    columns = [c for c in COLUMNS if c not in ("tp", "metric")]
    path = _csv(tmp_path, [GOOD_ROW], columns)
    (p,) = _case_problems(path)
    assert p.file == str(path)
    assert "tp" in p.message and "metric" in p.message and "missing" in p.message
    (p,) = _case_problems(tmp_path / "absent.csv")
    assert "cannot read" in p.message
