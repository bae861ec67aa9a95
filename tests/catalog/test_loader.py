"""Loading catalog directories: merging, overrides, and one clear problem per mistake."""

from __future__ import annotations

import pytest

from optimizer.catalog import Origin, load_catalog
from optimizer.errors import CatalogError


def _problems(directory, include_bundled=False) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(directory, include_bundled=include_bundled)
    return [str(p) for p in caught.value.problems]


def test_load_catalog_minimal_directory(write_catalog, minimal_files):
    catalog = load_catalog(write_catalog(minimal_files), include_bundled=False)
    assert set(catalog.accelerators) == {"acc-x"}
    assert catalog.systems["node-x"].n_accelerators == 8
    assert catalog.find("link-x").kind == "interconnects"
    assert len(catalog.fingerprint) == 16


def test_load_catalog_fingerprint_changes_with_content(write_catalog, minimal_files):
    first = load_catalog(write_catalog(minimal_files, "a"), include_bundled=False)
    changed = {"hardware.toml": minimal_files["hardware.toml"].replace("4600.0", "4700.0")}
    second = load_catalog(write_catalog(changed, "b"), include_bundled=False)
    assert first.fingerprint != second.fingerprint


def test_a_catalog_is_loaded_again_only_when_a_file_changes(write_catalog, minimal_files):
    """Loads in one process share one catalog while every file's bytes stay the same; an edit
    of the same length, within the file system's timestamp resolution, is still seen."""
    directory = write_catalog(minimal_files, "kept")
    first = load_catalog(directory, include_bundled=False)
    assert load_catalog(directory, include_bundled=False) is first
    edited = minimal_files["hardware.toml"].replace("4600.0", "4700.0")
    assert len(edited) == len(minimal_files["hardware.toml"])
    (directory / "hardware.toml").write_text(edited)
    second = load_catalog(directory, include_bundled=False)
    assert second is not first and second.fingerprint != first.fingerprint
    assert load_catalog(directory) is not second  # with the bundled catalog: another one


@pytest.mark.parametrize(
    ("old", "new", "entry", "field", "says"),
    [
        ("tdp_w = 700.0", "tdp_w = 700.0\nturbo = true", "acc-x", "turbo", "unknown key"),
        (
            "memory_bandwidth_tb_per_s = 4.0",
            "memory_bandwidth_tb_per_s = -4.0",
            "acc-x",
            "memory_bandwidth_tb_per_s",
            "greater than 0, got -4.0",
        ),
        (
            'memory_type = "hbm-x"',
            'memory_type = "hbm-y"',
            "acc-x",
            "memory_type",
            "unknown memory id 'hbm-y'",
        ),
        (
            'accelerator = "acc-x"',
            'accelerator = "acc-z"',
            "node-x",
            "accelerator",
            "unknown accelerators id 'acc-z'",
        ),
        (
            "n_accelerators = 8",
            'n_accelerators = "eight"',
            "node-x",
            "n_accelerators",
            "valid integer",
        ),
        (
            "dense_tflops = { bf16 = 1000.0, fp8 = 2000.0 }",
            "dense_tflops = { bf16 = 0.0 }",
            "acc-x",
            "dense_tflops.bf16",
            "greater than 0",
        ),
        (
            'sources = ["test fixture"]\nconfidence = "solid"\n\n[[system]]',
            'sources = []\nconfidence = "solid"\n\n[[system]]',
            "acc-x",
            "sources",
            "at least 1",
        ),
        ('id = "acc-x"', 'id = "Acc X"', "Acc X", "id", "ids are lower-case letters"),
        (  # a fleet of 2s and 3s cannot be counted in whole instances of 2
            "tdp_w = 700.0",
            "tdp_w = 700.0\ncloud_instance_devices = [2, 3]",
            "acc-x",
            "cloud_instance_devices",
            "multiple of the smallest",
        ),
        (
            "host_power_w = 2800.0",
            "host_power_w = 2800.0\nprice_usd = 100000.0\nhost_price_usd = 100000.0",
            "node-x",
            "host_price_usd",
            "must be < price_usd",
        ),
    ],
)
def test_load_catalog_reports_file_entry_field(
    write_catalog, minimal_files, old, new, entry, field, says
):
    text = minimal_files["hardware.toml"]
    assert old in text
    directory = write_catalog({"hardware.toml": text.replace(old, new, 1)})
    problems = _problems(directory)
    assert len(problems) == 1, problems
    file, got_entry, got_field, message = problems[0].split(": ", 3)
    assert file.endswith("hardware.toml")
    assert (got_entry, got_field) == (entry, field)
    assert says in message


def test_load_catalog_reports_every_problem_not_just_the_first(write_catalog, minimal_files):
    text = minimal_files["hardware.toml"].replace("tdp_w = 700.0", "tdp_w = -1.0")
    text = text.replace("latency_ns = 120.0", "latency_ns = 120.0\ncolour = 'red'")
    problems = _problems(write_catalog({"hardware.toml": text}))
    assert any("acc-x: tdp_w" in p for p in problems)
    assert any("hbm-x: colour: unknown key" in p for p in problems)


def test_load_catalog_unreadable_toml_names_the_line(write_catalog, minimal_files):
    broken = minimal_files["hardware.toml"].replace('unit = "stack"', "unit = stack")
    problems = _problems(write_catalog({"hardware.toml": broken}))
    assert len(problems) == 1
    assert problems[0].split(": ")[1] == "line 6"


def test_load_catalog_duplicate_id_in_one_directory(write_catalog, minimal_files):
    extra = minimal_files["hardware.toml"].split("[[accelerator]]")[1].split("[[system]]")[0]
    files = {**minimal_files, "more.toml": "[[accelerator]]" + extra}
    problems = _problems(write_catalog(files))
    assert len(problems) == 1
    assert "more.toml: acc-x: id: duplicate id, first defined in" in problems[0]


def test_load_catalog_same_id_in_two_kinds_is_an_error(write_catalog, minimal_files):
    text = minimal_files["hardware.toml"].replace('id = "node-x"', 'id = "acc-x"')
    problems = _problems(write_catalog({"hardware.toml": text}))
    assert any("id already used by another kind (accelerators)" in p for p in problems)


def test_load_catalog_unknown_section(write_catalog, minimal_files):
    files = {**minimal_files, "extra.toml": "[[gpu]]\nid = 'x'\n"}
    problems = _problems(write_catalog(files))
    assert len(problems) == 1 and "extra.toml: gpu: unknown section" in problems[0]


def test_load_catalog_missing_directory(tmp_path):
    problems = _problems(tmp_path / "nope")
    assert problems == [f"{tmp_path / 'nope'}: not a readable directory"]


def test_load_catalog_user_entry_overrides_bundled(write_catalog, minimal_files):
    base = write_catalog(minimal_files, "base")
    user = write_catalog(
        {
            "mine.toml": minimal_files["hardware.toml"]
            .split("[[accelerator]]")[1]
            .split("[[system]]")[0]
            .replace("tdp_w = 700.0", "tdp_w = 650.0")
            .join(["[[accelerator]]", ""])
        },
        "user",
    )
    catalog = load_catalog(base, user, include_bundled=False)
    assert catalog.accelerators["acc-x"].tdp_w == 650.0
    assert catalog.records[("accelerators", "acc-x")].origin is Origin.OVERRIDE
    assert catalog.records[("systems", "node-x")].origin is Origin.USER


def test_estimated_must_name_a_set_data_field(write_catalog, minimal_files):
    text = minimal_files["hardware.toml"].replace(
        "tdp_w = 700.0", 'tdp_w = 700.0\nestimated = ["price_usd"]'
    )
    problems = _problems(write_catalog({"hardware.toml": text}))
    assert problems == [
        f"{problems[0].split(': ')[0]}: acc-x: estimated: 'price_usd' is marked estimated"
        " but has no value"
    ]


TINY_MODEL = """
[[model]]
id = "tiny"
name = "Tiny"
hf_repo = "test/tiny"
n_layers = 2
hidden_size = 64
n_heads = 4
n_kv_heads = 2
head_dim = 16
vocab_size = 1000
intermediate_size = 256
ffn_kind = "gated"
attention = "gqa"
max_context_tokens = 4096
params_total_published = {published}
params_active_published = {published}
sources = ["test fixture"]
confidence = "solid"
"""
# 2 layers x (64*64 + 2*64*32 + 64*64 + 3*64*256 + 2*64) + 2*1000*64 + 64 = 251,200
TINY_PARAMS = 251_200


def test_model_params_within_tolerance_pass(write_catalog, minimal_files):
    files = {**minimal_files, "m.toml": TINY_MODEL.format(published=TINY_PARAMS * 1.02)}
    catalog = load_catalog(write_catalog(files), include_bundled=False)
    assert "tiny" in catalog.models


def test_model_params_mismatch_names_field_and_gap(write_catalog, minimal_files):
    files = {**minimal_files, "m.toml": TINY_MODEL.format(published=TINY_PARAMS * 1.1)}
    problems = _problems(write_catalog(files))
    assert len(problems) == 2
    assert "tiny: params_total_published: derived" in problems[0]
    assert (
        "derived 0.0002512B (all) differs from published 0.0002763B by 9.1% (> 3%)" in problems[0]
    )


def test_model_params_note_explains_a_gap(write_catalog, minimal_files):
    text = TINY_MODEL.format(published=TINY_PARAMS * 1.1) + 'params_note = "vision tower"\n'
    catalog = load_catalog(write_catalog({**minimal_files, "m.toml": text}), include_bundled=False)
    assert catalog.models["tiny"].params_note == "vision tower"


def test_with_entries_adds_entries_as_if_loaded_last():
    """A trial's parts join a loaded catalog: the new entry is there as a user entry, the old
    ones untouched, the fingerprint new; a bad field or a dangling reference is refused with
    file, entry and field, as a catalog file's would be."""
    from optimizer.catalog.loader import InlineEntries, with_entries

    base = load_catalog()
    h100 = base.accelerators["h100-sxm"].model_dump(mode="json", exclude_none=True)
    twin = {**h100, "id": "h100-twin", "name": "a second H100"}
    grown = with_entries(base, InlineEntries("trial", {"accelerator": [twin]}))
    assert grown.accelerators["h100-twin"].tdp_w == h100["tdp_w"]
    assert grown.records[("accelerators", "h100-twin")].origin is Origin.USER
    assert set(grown.accelerators) == set(base.accelerators) | {"h100-twin"}
    assert grown.fingerprint != base.fingerprint
    bad = {**twin, "tdp_w": -1}
    with pytest.raises(CatalogError, match=r"trial: h100-twin: tdp_w"):
        with_entries(base, InlineEntries("trial", {"accelerator": [bad]}))
    dangling = {**twin, "scale_up_link": "no-such-link"}
    with pytest.raises(CatalogError, match=r"trial: h100-twin: scale_up_link: unknown"):
        with_entries(base, InlineEntries("trial", {"accelerator": [dangling]}))
