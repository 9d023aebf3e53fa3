"""Energy and usage records: validation, readings to intervals, and the CSV / Parquet / store sinks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenci.energy.records import (
    CsvSink,
    EnergyRecord,
    ParquetSink,
    RecordSink,
    UsageRecord,
    open_sink,
    read_records,
    to_intervals,
    total_energy_kwh,
    utc_datetime,
)
from greenci.errors import InputError

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _reading(i: int, *, power_w: float | None = None, meter_kwh: float | None = None,
             resource: str = "pdu1") -> EnergyRecord:
    t = T0 + timedelta(seconds=60 * i)
    return EnergyRecord(source="test", resource_id=resource, start=t, end=t, power_w=power_w, meter_kwh=meter_kwh)


def test_interval_needs_energy_and_reading_needs_a_value() -> None:
    with pytest.raises(InputError, match="needs energy_kwh"):
        EnergyRecord(source="s", resource_id="r", start=T0, end=T0 + timedelta(seconds=1), power_w=5)
    with pytest.raises(InputError, match="needs power_w or meter_kwh"):
        EnergyRecord(source="s", resource_id="r", start=T0, end=T0)
    with pytest.raises(InputError, match="needs an interval"):
        EnergyRecord(source="s", resource_id="r", start=T0, end=T0, energy_kwh=1.0)
    with pytest.raises(InputError, match="before start"):
        EnergyRecord(source="s", resource_id="r", start=T0, end=T0 - timedelta(seconds=1), energy_kwh=1.0)
    with pytest.raises(InputError, match="power_w -5"):
        EnergyRecord(source="s", resource_id="r", start=T0, end=T0, power_w=-5)
    with pytest.raises(InputError, match="not a time"):
        EnergyRecord(source="s", resource_id="r", start="yesterday", end=T0, energy_kwh=1.0)


def test_times_become_aware_utc() -> None:
    naive = datetime(2024, 3, 1, 12, 0)
    assert utc_datetime(naive) == T0
    assert utc_datetime("2024-03-01T13:00:00+01:00") == T0
    assert utc_datetime("2024-03-01T12:00:00Z") == T0
    assert utc_datetime(T0.timestamp()) == T0
    r = UsageRecord(source="s", resource_id="r", metric="cpu", start="2024-03-01T12:00:00", end=naive, value=3)
    assert r.start.tzinfo is UTC and r.value == 3.0


def test_power_readings_integrate_by_trapezoid() -> None:
    recs = [_reading(0, power_w=100), _reading(1, power_w=200), _reading(2, power_w=200)]
    out = to_intervals(recs)
    assert [r.energy_kwh for r in out] == pytest.approx([150 * 60 / 3.6e6, 200 * 60 / 3.6e6])
    assert out[0].power_w == pytest.approx(150)
    assert total_energy_kwh(out) == pytest.approx(350 * 60 / 3.6e6)


def test_meter_readings_difference_and_a_reset_is_left_out() -> None:
    recs = [_reading(0, meter_kwh=10.0), _reading(1, meter_kwh=10.5), _reading(2, meter_kwh=0.1),
            _reading(3, meter_kwh=0.3)]
    out = to_intervals(recs)
    assert [round(r.energy_kwh or 0, 9) for r in out] == [0.5, 0.2]
    assert out[1].start == T0 + timedelta(minutes=2)


def test_a_gap_longer_than_max_gap_is_never_bridged() -> None:
    recs = [_reading(0, power_w=100), _reading(1, power_w=100), _reading(10, power_w=100)]
    out = to_intervals(recs, max_gap_s=120)
    assert len(out) == 1 and out[0].end == T0 + timedelta(minutes=1)


def test_readings_of_different_resources_are_not_mixed() -> None:
    recs = [_reading(0, power_w=100, resource="a"), _reading(1, power_w=100, resource="b"),
            _reading(2, power_w=100, resource="a")]
    out = to_intervals(recs)
    assert len(out) == 1 and out[0].resource_id == "a" and out[0].duration_s == 120


def _intervals() -> list[EnergyRecord]:
    return [EnergyRecord(source="greenci-measure", resource_id="make test", start=T0, end=T0 + timedelta(seconds=30),
                         energy_kwh=0.001, power_w=120.0, component=c, method="model") for c in ("cpu", "ram")]


def test_csv_sink_round_trips_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    sink = CsvSink(path)
    sink.write(_intervals())
    sink.write(_intervals()[:1])
    back = read_records(path)
    assert len(back) == 3
    assert back[0] == _intervals()[0]
    assert back[1].component == "ram" and back[0].meter_kwh is None


def test_csv_sink_refuses_another_record_type_in_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    CsvSink(path).write(_intervals())
    usage = [UsageRecord(source="gnocchi", resource_id="vm", metric="cpu", start=T0, end=T0, value=1.0)]
    with pytest.raises(InputError, match="columns"):
        CsvSink(path).write(usage)
    with pytest.raises(InputError, match="cannot share one table"):
        CsvSink(tmp_path / "mixed.csv").write([*_intervals(), *usage])


def test_parquet_sink_round_trips_and_appends(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "records.parquet"
    sink = open_sink(path)
    assert isinstance(sink, ParquetSink)
    sink.write(_intervals())
    open_sink(path).write(_intervals())
    back = read_records(path)
    assert len(back) == 4 and back[3] == _intervals()[1]
    usage_path = tmp_path / "usage.parquet"
    usage = [UsageRecord(source="gnocchi", resource_id="vm", metric="cpu", start=T0, end=T0 + timedelta(minutes=5),
                         value=2.5e9, unit="ns", aggregation="rate:mean")]
    open_sink(usage_path).write(usage)
    assert read_records(usage_path) == usage


def test_open_sink_prefers_the_store_seam_and_checks_suffixes(tmp_path: Path) -> None:
    class MemoryStore:
        def __init__(self) -> None:
            self.rows: list = []

        def write(self, records):  # noqa: ANN001, ANN202 - a duck-typed sink
            self.rows.extend(records)

    store = MemoryStore()
    assert isinstance(store, RecordSink)
    sink = open_sink(tmp_path / "ignored.csv", store=store)
    sink.write(_intervals())
    assert len(store.rows) == 2 and not (tmp_path / "ignored.csv").exists()
    with pytest.raises(InputError, match="no write"):
        open_sink(store=object())  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"\.csv or \.parquet"):
        open_sink(tmp_path / "records.xlsx")
    assert isinstance(open_sink(tmp_path / "r.CSV"), CsvSink)


@given(st.lists(st.floats(0, 1e3, allow_nan=False), min_size=2, max_size=30))
def test_meter_intervals_add_up_to_the_meter_span(steps: list[float]) -> None:
    meter = 5.0
    recs = []
    for i, step in enumerate(steps):
        meter += step
        recs.append(_reading(i, meter_kwh=meter))
    out = to_intervals(recs)
    assert total_energy_kwh(out) == pytest.approx(recs[-1].meter_kwh - recs[0].meter_kwh, rel=1e-9, abs=1e-9)
    assert all(r.is_interval for r in out)


def test_each_stretch_of_a_resource_is_counted_once() -> None:
    """Meter differences first, then the device's own averages, then the trapezoid over what is left."""
    average = EnergyRecord(source="test", resource_id="pdu1", start=T0 + timedelta(minutes=1),
                           end=T0 + timedelta(minutes=3), energy_kwh=0.01, power_w=300.0, method="BMC average")
    inside = EnergyRecord(source="test", resource_id="pdu1", start=T0 + timedelta(minutes=2),
                          end=T0 + timedelta(minutes=4), energy_kwh=0.01, power_w=300.0, method="BMC average")
    readings = [_reading(i, power_w=100.0 * (i + 1)) for i in range(5)]
    out = to_intervals([*readings, average, inside])
    spans = [(r.start, r.end) for r in out]
    assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert [r.method for r in out] == ["trapezoid of power readings", "BMC average", "trapezoid of power readings"]
    assert out[2].energy_kwh == pytest.approx(450 * 60 / 3.6e6)  # 08:03..08:04, from 400 W to 500 W
    meter = [_reading(0, meter_kwh=1.0), _reading(4, meter_kwh=1.5)]
    metered = to_intervals([*meter, *readings, average])
    assert [(r.method, r.energy_kwh) for r in metered] == [("meter difference", pytest.approx(0.5))]


def test_max_gap_must_be_a_positive_number() -> None:
    for bad in (0, -5, float("nan"), float("inf")):
        with pytest.raises(InputError, match="max_gap_s") as info:
            to_intervals([_reading(0, power_w=1)], max_gap_s=bad)
        assert info.value.field == "max_gap_s"


def test_the_power_bound_can_be_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    from greenci.energy.records import MAX_POWER_ENV, check_power_w
    from greenci.errors import ConfigError, DataFormatError

    with pytest.raises(DataFormatError, match=f"feed.csv row 3 column 'kW'.*{MAX_POWER_ENV}"):
        check_power_w(250_000, path="feed.csv", row=3, column="kW")
    monkeypatch.setenv(MAX_POWER_ENV, "1e6")
    assert check_power_w(250_000, path="feed.csv") == 250_000
    monkeypatch.setenv(MAX_POWER_ENV, "lots")
    with pytest.raises(ConfigError, match=MAX_POWER_ENV):
        check_power_w(1, path="feed.csv")


def test_records_files_are_checked_like_every_reader(tmp_path: Path) -> None:
    from greenci.errors import DataFormatError

    path = tmp_path / "records.csv"
    CsvSink(path).write(_intervals())
    text = path.read_text()
    path.write_text(text.replace("120.0", "1e308", 1))
    with pytest.raises(DataFormatError, match=r"records.csv row 2 column 'power_w'"):
        read_records(path)
    path.write_text(text.replace("2024-03-01T12:00:30Z", "later", 1))
    with pytest.raises(DataFormatError, match=r"records.csv row 2: .*not a time"):
        read_records(path)
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty"):
        read_records(path)


def test_a_records_file_that_cannot_take_the_records_is_left_as_it_was(tmp_path: Path) -> None:
    from greenci.energy.records import check_records_file
    from greenci.errors import DataFormatError

    pytest.importorskip("pyarrow")
    broken = tmp_path / "records.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(DataFormatError, match="records.parquet: cannot be read as Parquet"):
        ParquetSink(broken).write(_intervals())
    with pytest.raises(DataFormatError, match="records.parquet: cannot be read as Parquet"):
        check_records_file(broken, field="output")
    assert broken.read_bytes() == b"not parquet at all"
    usage = tmp_path / "usage.csv"
    usage.write_text("source,resource_id,metric\n")
    with pytest.raises(InputError, match="output .*usage.csv: the file has columns") as info:
        check_records_file(usage, field="output")
    assert info.value.field == "output"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
