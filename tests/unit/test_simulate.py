"""The policy simulator: points taken and kept, storage and transfer estimates, output."""

import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from diskdr.policy import PolicySet, load_policy_file, parse_policy_text
from diskdr.retention import PointInfo, apply
from diskdr.schedule import policy_slots
from diskdr.simulate import Prices, Workload, render_table, simulate

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 1, 1, tzinfo=UTC)


def policy_set(retention: str, cron: str = "0 0 * * * *", extra: str = "") -> PolicySet:
    text = f"""
version: 1
policies:
  - name: p
    target: {{}}
    schedules: [{{cron: "{cron}"}}]
    retention: {retention}
{extra}"""
    return parse_policy_text(text, "p.yaml")


def region(result, index=0, policy=0):
    return result.policies[policy].regions[index]


@pytest.mark.parametrize(
    ("retention", "cron", "days", "kept"),
    [
        ("{last: 5}", "0 0 * * * *", 3, 5),  # hourly, keep the last 5
        ("{hourly: 30}", "0 0 * * * *", 3, 30),
        ("{daily: 7}", "0 0 */4 * * *", 30, 7),
        ("{weekly: 4}", "0 0 0 * * *", 60, 4),
        # the 3 newest 6-hourly points fall on 2 days, which count for daily too
        ("{last: 3, daily: 7}", "0 0 */6 * * *", 30, 3 + 7 - 2),
        ("{within: P2D}", "0 0 */6 * * *", 10, 8),  # slots newer than now - 2 days
        ("{last: 1, minKeep: 4}", "0 0 0 * * *", 10, 4),
    ],
)
def test_kept_count_is_what_retention_promises(retention, cron, days, kept):
    result = simulate(policy_set(retention, cron), START, days)
    assert len(region(result).kept) == kept
    assert region(result).taken == len(
        policy_slots(policy_set(retention, cron).policies[0], START, START + timedelta(days=days))
    )
    assert region(result).taken == region(result).removed + kept


def test_pruning_after_every_slot_ends_where_one_decision_over_all_points_would():
    policies = load_policy_file(ROOT / "policies.sample.yaml")
    result = simulate(policies, START, 90)
    for policy, outcome in zip(policies.policies, result.policies, strict=True):
        slots = policy_slots(policy, START, START + timedelta(days=90))
        points = [PointInfo(id=str(slot), slot=slot, owner="o") for slot in slots]
        if policy.replicate is not None:  # the newest point is the base of the next copy
            points[-1] = PointInfo(id=str(slots[-1]), slot=slots[-1], owner="o", copy_base=True)
        once = apply(points, policy.retention_rules(), now=slots[-1], owner="o")
        kept = outcome.regions[0].kept
        assert [point.slot for point in kept] == [point.slot for point in once.keep]
        assert [point.reasons for point in kept] == [once.reasons[p.id] for p in once.keep]


def test_replication_adds_a_secondary_region_with_its_own_retention():
    result = simulate(load_policy_file(ROOT / "policies.sample.yaml"), START, 30)
    gold = result.policies[0]
    assert [r.region for r in gold.regions] == ["primary", "westus2"]
    assert [r.role for r in gold.regions] == ["primary", "replica"]
    primary, replica = gold.regions
    assert replica.taken == primary.taken == 30 * 6
    # secondary keeps 14 dailies, 8 weekly and monthly buckets (overlapping): more dailies
    assert sum("daily" in " ".join(p.reasons) for p in replica.kept) == 14
    assert sum("daily" in " ".join(p.reasons) for p in primary.kept) == 7
    assert primary.transfer_gb == 0
    assert [r.region for r in result.policies[1].regions] == ["primary"]  # silver


def test_transfer_is_the_whole_disk_once_then_the_changes_between_copies():
    workload = Workload(disk_size_gb=100, changes_gb_per_day=2, disks=3)
    extra = "    replicate: {region: westus2, resourceGroup: rg-dr, retention: {last: 2}}\n"
    result = simulate(policy_set("{last: 2}", "0 0 0 * * *", extra), START, 5, workload=workload)
    per_day = 100 * -math.expm1(-2 / 100)
    assert region(result, 1).transfer_gb == pytest.approx(3 * (100 + 4 * per_day))


def test_storage_is_a_full_copy_plus_the_changes_between_kept_points():
    workload = Workload(disk_size_gb=100, changes_gb_per_day=10)
    result = simulate(policy_set("{last: 3}", "0 0 0 * * *"), START, 10, workload=workload)
    # three daily points: the oldest holds the disk, the next two a day of changes each
    assert region(result).storage_gb == pytest.approx(100 + 2 * 100 * -math.expm1(-0.1))


def test_storage_grows_with_the_change_rate_and_never_exceeds_a_full_copy_per_point():
    policies = policy_set("{last: 4, daily: 7}", "0 0 */4 * * *")
    storage = [
        region(simulate(policies, START, 14, workload=Workload(64, rate))).storage_gb
        for rate in (0, 1, 4, 16, 64, 1024)
    ]
    assert storage == sorted(storage) and storage[0] == 64
    kept = len(region(simulate(policies, START, 14)).kept)
    assert storage[-1] <= 64 * kept


def test_deleting_a_point_never_adds_storage():
    workload = Workload(disk_size_gb=50, changes_gb_per_day=5)
    slots = [START + timedelta(hours=6 * i) for i in range(20)]
    for drop in range(1, 19):
        fewer = slots[:drop] + slots[drop + 1 :]
        assert workload.chain_gb(fewer) <= workload.chain_gb(slots) + 1e-9


def test_costs_use_the_given_prices():
    prices = Prices(snapshot_gb_month=0.1, transfer_gb=0.5)
    result = simulate(load_policy_file(ROOT / "policies.sample.yaml"), START, 7, prices=prices)
    primary, replica = result.policies[0].regions
    assert primary.storage_usd_per_month == pytest.approx(primary.storage_gb * 0.1)
    assert replica.transfer_usd == pytest.approx(replica.transfer_gb * 0.5)


def test_json_shape():
    document = simulate(load_policy_file(ROOT / "policies.sample.yaml"), START, 2).to_dict()
    assert set(document) >= {"policies", "start", "end", "assumptions"}
    gold = document["policies"][0]
    assert gold["name"] == "gold"
    for entry in gold["regions"]:
        assert set(entry) >= {"region", "taken", "kept", "storageGB", "transferGB", "costUSD"}
        assert isinstance(entry["taken"], int)
        assert all(set(kept) == {"slot", "reasons"} for kept in entry["kept"])
        assert all(isinstance(kept["reasons"], list) for kept in entry["kept"])
    assert gold["regions"][0]["kept"][0] == {
        "slot": "2026-01-03T00:00Z",
        "reasons": [
            "last",
            "daily 2026-01-03",
            "weekly 2026-W01",
            "monthly 2026-01",
            "min-keep",
            "newest-usable",
            "copy-base",
        ],
    }


def test_a_start_in_another_zone_is_written_as_utc():
    two_hours_ahead = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    result = simulate(load_policy_file(ROOT / "policies.sample.yaml"), two_hours_ahead, 1)
    document = result.to_dict()
    assert (document["start"], document["end"]) == ("2026-01-01T00:00Z", "2026-01-02T00:00Z")
    assert render_table(result).startswith("Simulation from 2026-01-01T00:00Z for 1 days")


def test_the_table_names_every_policy_region_and_kept_point():
    result = simulate(load_policy_file(ROOT / "policies.sample.yaml"), START, 3)
    table = render_table(result)
    assert "policy gold (disk)" in table and "policy silver (disk)" in table
    assert "kept in westus2 at the end (newest first):" in table
    for policy in result.policies:
        for outcome in policy.regions:
            for point in outcome.kept:
                assert f"{point.slot:%Y-%m-%dT%H:%MZ}  {', '.join(point.reasons)}" in table


def test_invalid_arguments():
    with pytest.raises(ValueError, match="days must be > 0"):
        simulate(policy_set("{last: 1}"), START, 0)
    with pytest.raises(ValueError, match="aware"):
        simulate(policy_set("{last: 1}"), datetime(2026, 1, 1), 1)
