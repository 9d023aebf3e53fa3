"""Cloud region -> grid zone table and the ``allowed-regions`` resolver."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

import pytest

from greenci.cloud_regions import REGIONS, ZONE_ALIASES, describe, region, resolve_regions, zone_of
from greenci.errors import InputError

# The 16 zones of the project's shared intensity data (as that data spells them).
SHARED = ("AU-NSW", "AU-VIC", "BR-SP", "CA-ON", "CL-SIC", "DE-LU", "GB", "IN-WE", "JP-TK", "KR", "SG",
          "US-CAL-CISO", "US-MIDA-PJM", "US-NY-NYIS", "US-TEX-ERCO", "ZA")
ZONE_ID = re.compile(r"^[A-Z]{2}(-[A-Z0-9]+)*$")


def test_eu_central_1_is_de_lu_in_the_shared_data_and_de_where_the_data_says_de() -> None:
    assert resolve_regions(["eu-central-1"], SHARED) == ("DE-LU",)
    assert resolve_regions(["eu-central-1"], ["GB", "DE"]) == ("DE",)
    assert resolve_regions(["eu-central-1"], ["DE", "DE-LU"]) == ("DE",)  # the canonical id first


def test_table_covers_three_providers_without_duplicates() -> None:
    per_provider = Counter(r.provider for r in REGIONS)
    assert set(per_provider) == {"aws", "gcp", "azure"}
    assert all(n >= 40 for n in per_provider.values()), per_provider
    keys = [(r.provider, r.name) for r in REGIONS]
    assert len(keys) == len(set(keys))
    names = [r.name.lower() for r in REGIONS]
    assert len(names) == len(set(names)), "a bare name must not be ambiguous across providers"
    assert all(r.location.strip() for r in REGIONS)


def test_every_zone_and_alias_has_the_zone_id_shape() -> None:
    bad = [r for r in REGIONS if not ZONE_ID.match(r.zone)]
    assert not bad
    for canonical, others in ZONE_ALIASES.items():
        assert ZONE_ID.match(canonical)
        assert all(ZONE_ID.match(o) for o in others)
        assert canonical not in others


@pytest.mark.parametrize(("name", "zone"), [
    ("us-east-1", "US-MIDA-PJM"), ("us-east-2", "US-MIDA-PJM"), ("us-west-1", "US-CAL-CISO"),
    ("us-west-2", "US-NW-BPAT"), ("eu-central-1", "DE"), ("eu-west-1", "IE"), ("eu-west-2", "GB"),
    ("eu-west-3", "FR"), ("eu-north-1", "SE-SE3"), ("ca-central-1", "CA-QC"), ("ap-southeast-2", "AU-NSW"),
    ("ap-northeast-1", "JP-TK"), ("ap-northeast-2", "KR"), ("ap-southeast-1", "SG"), ("ap-south-1", "IN-WE"),
    ("sa-east-1", "BR-CS"), ("af-south-1", "ZA"),
    ("europe-west3", "DE"), ("us-central1", "US-MIDW-MISO"), ("northamerica-northeast2", "CA-ON"),
    ("australia-southeast2", "AU-VIC"), ("southamerica-west1", "CL-SEN"),
    ("westeurope", "NL"), ("germanywestcentral", "DE"), ("uksouth", "GB"), ("eastus", "US-MIDA-PJM"),
    ("canadacentral", "CA-ON"), ("australiaeast", "AU-NSW"), ("australiasoutheast", "AU-VIC"),
    ("japaneast", "JP-TK"), ("koreacentral", "KR"), ("southeastasia", "SG"), ("centralindia", "IN-WE"),
    ("brazilsouth", "BR-CS"), ("southafricanorth", "ZA"),
])
def test_known_regions(name: str, zone: str) -> None:
    assert zone_of(name) == zone


def test_case_and_provider_prefixes() -> None:
    assert zone_of("EU-Central-1") == "DE"
    assert zone_of("aws:eu-central-1") == "DE"
    assert zone_of("gcp:europe-west3") == "DE"
    assert zone_of("azure:WestEurope") == "NL"
    assert zone_of("AZURE: westeurope") == "NL"
    assert zone_of("West Europe") == "NL"  # Azure's display name
    assert zone_of("aws:westeurope") is None  # a prefix restricts the provider
    assert zone_of("mars-north-1") is None
    assert region("gcp:europe-west3").location == "Frankfurt"


def test_describe() -> None:
    assert describe("eu-central-1") == "eu-central-1 (AWS, Frankfurt) -> DE"
    assert describe("azure:uksouth") == "uksouth (Azure, London) -> GB"
    with pytest.raises(InputError, match="eu-central-1"):
        describe("eu-centrl-1")


def test_plain_zones_pass_through_in_any_case() -> None:
    assert resolve_regions(["GB", "US-TEX-ERCO"], SHARED) == ("GB", "US-TEX-ERCO")
    assert resolve_regions(["de-lu", "gb"], SHARED) == ("DE-LU", "GB")
    assert resolve_regions(["ANYTHING"], ["ANYTHING"]) == ("ANYTHING",)  # held names need not be known


def test_aliases_map_both_ways() -> None:
    assert resolve_regions(["southamerica-west1", "sa-east-1"], SHARED) == ("CL-SIC", "BR-SP")
    assert resolve_regions(["gcp:southamerica-west1"], ["CL-SEN"]) == ("CL-SEN",)
    assert resolve_regions(["DE"], SHARED) == ("DE-LU",)  # a zone id the data holds under its other name
    assert resolve_regions(["CL-SIC"], ["CL-SEN"]) == ("CL-SEN",)


def test_order_kept_and_duplicates_removed() -> None:
    assert resolve_regions(["eu-central-1", "DE-LU"], SHARED) == ("DE-LU",)
    got = resolve_regions(["us-east-1", "GB", "aws:eu-central-1", "eastus", "eu-west-2", "de-lu"], SHARED)
    assert got == ("US-MIDA-PJM", "GB", "DE-LU")


def test_unknown_name_names_field_value_and_suggests() -> None:
    with pytest.raises(InputError) as err:
        resolve_regions(["eu-centrl-1"], SHARED, field="jobs.build.allowed-regions")
    msg = str(err.value)
    assert msg.startswith("jobs.build.allowed-regions: 'eu-centrl-1' is neither a grid zone")
    assert "did you mean eu-central-1" in msg
    assert "DE-LU" in msg  # what the data holds


def test_unknown_name_close_to_a_held_zone() -> None:
    with pytest.raises(InputError, match=r"did you mean .*US-TEX-ERCO"):
        resolve_regions(["US-TEX-ERCOT"], SHARED)


def test_known_region_whose_zone_the_data_lacks() -> None:
    with pytest.raises(InputError) as err:
        resolve_regions(["eu-west-1"], SHARED)
    msg = str(err.value)
    assert msg.startswith("allowed-regions: eu-west-1 (AWS, Ireland) is grid zone IE, which the intensity data "
                          "does not hold (it holds AU-NSW, AU-VIC,")
    assert msg.endswith("add intensity for IE or choose another region")
    with pytest.raises(InputError, match=r"grid zone DE \(also named DE-LU\)"):
        resolve_regions(["eu-central-1"], ["GB"])


def test_empty_and_malformed_lists() -> None:
    with pytest.raises(InputError, match="allowed-regions: the list is empty"):
        resolve_regions([], SHARED)
    with pytest.raises(InputError, match="allowed-regions: 3 is not a region name"):
        resolve_regions([3], SHARED)  # type: ignore[list-item]
    with pytest.raises(InputError, match="not a region name"):
        resolve_regions(["  "], SHARED)


def test_import_is_cheap() -> None:
    code = ("import sys, greenci.cloud_regions; "
            "print(','.join(m for m in ('pandas', 'httpx', 'difflib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
