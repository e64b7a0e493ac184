"""The shipped hub network is a usable network, and the loader rejects one that is not."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import pytest
from fastavro.validation import validate

from streams.reference.hubs import (
    DEFAULT_HUBS_PATH,
    HubDataError,
    hubs_by_code,
    load_hubs,
    regions_of,
)

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "shipstream.Hub.avsc"


@pytest.fixture(scope="module")
def hubs() -> list[dict]:
    return load_hubs()


def test_network_size_and_regions(hubs):
    assert len(hubs) == 30
    assert regions_of(hubs) == sorted(["NE", "SE", "MW", "SW", "W", "NW", "SC", "MA"])


def test_codes_unique(hubs):
    codes = [h["code"] for h in hubs]
    assert len(codes) == len(set(codes))


def test_alternates_exist_and_are_not_self(hubs):
    by_code = hubs_by_code(hubs)
    alternates = [h for h in hubs if h["alternate"] is not None]
    for hub in alternates:
        assert hub["alternate"] in by_code
        assert hub["alternate"] != hub["code"]
    same_region = [h for h in alternates if by_code[h["alternate"]]["region"] == h["region"]]
    assert len(same_region) > len(alternates) * 0.8
    assert len(alternates) < len(hubs), "some hubs have no alternate"


def test_transit_hours_cover_every_region_plausibly(hubs):
    regions = set(regions_of(hubs))
    for hub in hubs:
        assert set(hub["transit_hours"]) == regions
        assert 6 <= hub["transit_hours"][hub["region"]] <= 24
        for region, hours in hub["transit_hours"].items():
            if region != hub["region"]:
                assert 24 <= hours <= 96


def test_capacities_realistic(hubs):
    assert all(40 <= h["capacity_per_window"] <= 400 for h in hubs)


def test_every_hub_is_a_valid_avro_hub(hubs):
    schema = fastavro.parse_schema(json.loads(SCHEMA.read_text()))
    for hub in hubs:
        assert validate(hub, schema, raise_errors=True)


def test_default_path_is_the_shipped_file():
    assert DEFAULT_HUBS_PATH.name == "hubs.json"
    assert load_hubs(DEFAULT_HUBS_PATH) == load_hubs()


def _write(tmp_path: Path, hubs: list[dict]) -> Path:
    path = tmp_path / "hubs.json"
    path.write_text(json.dumps(hubs))
    return path


def _hub(code: str, region: str = "NE", alternate: str | None = None) -> dict:
    return {
        "code": code,
        "region": region,
        "capacity_per_window": 10,
        "alternate": alternate,
        "transit_hours": {"NE": 8, "MA": 30},
    }


def test_loader_reports_every_problem(tmp_path):
    bad = [
        _hub("A1", alternate="A1"),
        _hub("A1", region="MA", alternate="ZZZ9"),
        {**_hub("B1"), "transit_hours": {"NE": 8}},
    ]
    with pytest.raises(HubDataError) as err:
        load_hubs(_write(tmp_path, bad))
    text = str(err.value)
    assert "duplicate code" in text
    assert "'A1' is itself" in text
    assert "'ZZZ9'" in text
    assert "no transit_hours for regions ['MA']" in text


def test_loader_rejects_non_list(tmp_path):
    path = tmp_path / "hubs.json"
    path.write_text("{}")
    with pytest.raises(HubDataError, match="JSON array"):
        load_hubs(path)


def test_loader_accepts_a_small_custom_network(tmp_path):
    hubs = [_hub("A1", alternate="B1"), _hub("B1", region="MA")]
    assert load_hubs(str(_write(tmp_path, hubs))) == hubs
