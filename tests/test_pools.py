"""The runner-pools file: what it reads, and that every fault names ``pools.<REGION>.<field>`` and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from greenci.errors import InputError
from greenci.scheduling.pools import PoolSet, RunnerPool, pools_from_mapping, read_pools

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pools.yaml"


def _write(tmp_path: Path, text: str, name: str = "pools.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_file_is_read_with_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, "pools:\n"
                            "  GB:    {runners: 8, idle_w: 60, busy_w: 180, start_s: 90, start_kwh: 0.005, "
                            "min_runners: 1}\n"
                            "  DE-LU: {runners: 4, idle_w: 60, busy_w: 180}\n")
    pools = read_pools(path)
    assert pools.source == str(path)
    assert pools.get("GB") == RunnerPool("GB", 8, 60.0, 180.0, 90.0, 0.005, 1)
    assert pools.get("DE-LU") == RunnerPool("DE-LU", 4, 60.0, 180.0)
    assert pools.get("FR") is None
    assert pools.sizes() == {"GB": 8, "DE-LU": 4}
    cap = pools.capacity(["FR", "DE-LU", "GB"])
    assert cap.dtype == np.int64 and cap.tolist() == [-1, 4, 8]
    assert "GB=8" in pools.describe() and "unlimited" in pools.describe()


def test_json_file_reads_the_same_as_yaml(tmp_path: Path) -> None:
    doc = {"pools": {"GB": {"runners": 8, "idle_w": 60, "busy_w": 180, "start_s": 90, "start_kwh": 0.005,
                            "min_runners": 1}, "DE-LU": {"runners": 4, "idle_w": 60, "busy_w": 180}}}
    from_json = read_pools(_write(tmp_path, json.dumps(doc), "p.json"))
    from_yaml = read_pools(_write(tmp_path, "pools:\n  GB: {runners: 8, idle_w: 60, busy_w: 180, start_s: 90, "
                                            "start_kwh: 0.005, min_runners: 1}\n  DE-LU: {runners: 4, idle_w: 60, "
                                            "busy_w: 180}\n", "p.yml"))
    assert from_json.pools == from_yaml.pools


def test_the_example_file_reads() -> None:
    pools = read_pools(EXAMPLE)
    assert len(pools.pools) >= 3
    assert all(p.busy_w >= p.idle_w > 0 and p.runners >= 1 for p in pools.pools)


@pytest.mark.parametrize(("text", "needle", "field"), [
    ("pools:\n  GB: {runners: 0, idle_w: 60, busy_w: 180}\n", "pools.GB.runners: 0 must be at least 1",
     "pools.GB.runners"),
    ("pools:\n  GB: {idle_w: 60, busy_w: 180}\n", "pools.GB.runners: missing", "pools.GB.runners"),
    ("pools:\n  GB: {runners: 2, idle_w: -5, busy_w: 180}\n", "pools.GB.idle_w: -5", "pools.GB.idle_w"),
    ("pools:\n  GB: {runners: 2, idle_w: 60, busy_w: 50}\n", "pools.GB.busy_w: 50 is below idle_w 60",
     "pools.GB.busy_w"),
    ("pools:\n  GB: {runners: 2, idle_w: 60, busy_w: 180, idel_w: 3}\n", "pools.GB.idel_w: unknown key",
     "pools.GB.idel_w"),
    ("pools:\n  GB: {runners: 2.5, idle_w: 60, busy_w: 180}\n", "pools.GB.runners: 2.5 must be a whole number",
     "pools.GB.runners"),
    ("pools:\n  GB: {runners: true, idle_w: 60, busy_w: 180}\n", "pools.GB.runners: True", "pools.GB.runners"),
    ("pools:\n  GB: {runners: 2, idle_w: '60', busy_w: 180}\n", "pools.GB.idle_w: '60' must be a number",
     "pools.GB.idle_w"),
    ("pools:\n  GB: {runners: 2, idle_w: .nan, busy_w: 180}\n", "pools.GB.idle_w: nan must be a finite",
     "pools.GB.idle_w"),
    ("pools:\n  GB: {runners: 2, idle_w: 6, busy_w: 18, min_runners: 3}\n", "pools.GB.min_runners: 3 is above",
     "pools.GB.min_runners"),
    ("pools:\n  GB: 4\n", "pools.GB: must be a mapping", "pools.GB"),
    ("pools:\n  NO: {runners: 2, idle_w: 6, busy_w: 18}\n", "quote zone names such as 'NO'", "pools"),
    ("pools: {}\n", "at least one region", "pools"),
    ("regions:\n  GB: {runners: 2, idle_w: 6, busy_w: 18}\n", "top-level 'pools:' key", "pools"),
    ("pools:\n  GB: {runners: 2, idle_w: 6, busy_w: 18}\nextra: 1\n", "unknown top-level key(s) extra", "pools"),
    ("pools:\n  GB: {runners: 2, idle_w: 6\n", "not valid YAML", "pools"),
    ("   \n", "is empty", "pools"),
    ("pools:\n  GB: {runners: 2, idle_w: 6, busy_w: 18}\n  GB: {runners: 3, idle_w: 6, busy_w: 18}\n",
     "duplicate", "pools"),
])
def test_bad_files_name_region_field_and_fix(tmp_path: Path, text: str, needle: str, field: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        read_pools(path)
    message = str(info.value)
    assert needle in message, message
    assert str(path) in message
    assert info.value.field == field


def test_bad_json_and_missing_file_and_wrong_extension(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="line 1, column .*not valid JSON"):
        read_pools(_write(tmp_path, '{"pools": {"GB": ', "p.json"))
    with pytest.raises(InputError, match="not a number JSON allows"):
        read_pools(_write(tmp_path, '{"pools": {"GB": {"runners": 2, "idle_w": NaN, "busy_w": 9}}}', "q.json"))
    with pytest.raises(InputError, match="no such file"):
        read_pools(tmp_path / "absent.yaml")
    with pytest.raises(InputError, match=r"must end in \.yaml, \.yml or \.json"):
        read_pools(_write(tmp_path, "pools: {}", "pools.toml"))


def test_duplicate_regions_in_code_are_refused() -> None:
    pool = RunnerPool("GB", 2, 10.0, 20.0)
    with pytest.raises(InputError, match="pools.GB: duplicate region"):
        PoolSet((pool, pool), "synthetic")
    with pytest.raises(InputError, match="pools.FR.runners"):
        pools_from_mapping({"pools": {"FR": {"idle_w": 1, "busy_w": 2}}}, source="synthetic")
