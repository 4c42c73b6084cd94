"""The policy file: models, defaults, and every error as file:line: field.path: reason."""

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from diskdr.errors import PolicyError, PolicyIssue
from diskdr.policy import (
    AZURE_REGIONS,
    Policy,
    Retention,
    load_policy_file,
    parse_duration,
    parse_policy_text,
)
from diskdr.retention import RetentionRules

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data" / "policy"
BROKEN = sorted(path.name for path in DATA.iterdir() if path.suffix != ".expected")

NAME = "p.yaml:3: policies[0].name: "
NAME_RULE = (
    "expected 1-32 lower-case letters, digits or hyphens, starting with a letter and not "
    "ending with a hyphen (it is used in instance ids and tags), got "
)
WITHIN = "p.yaml:6: policies[0].retention.within: "
DURATION = "expected an ISO 8601 duration such as PT4H or P7D, got "
UNKNOWN_REGION = "unknown Azure region "
SUCH_AS = " (expected a name such as westus2)"
MONTHS = " counts months or years, which have no fixed length; use days or weeks (e.g. P30D, P52W)"

MINIMAL = """\
version: 1
policies:
  - name: bronze
    target: {}
    schedules: [{cron: "0 0 1 * * *"}]
    retention: {daily: 7}
"""


def issues_of(text: str, filename: str = "policies.yaml") -> list[str]:
    with pytest.raises(PolicyError) as raised:
        parse_policy_text(text, filename)
    return [str(issue) for issue in raised.value.issues]


# -- the sample and the models -------------------------------------------------------------


def test_the_sample_file_is_valid_and_means_what_its_comments_say():
    policies = load_policy_file(ROOT / "policies.sample.yaml")
    gold, silver = policies.policies
    assert gold.name == "gold"
    assert gold.consistency == "disk"
    assert gold.target.tags == {"backup": "gold"}
    assert gold.target.exclude_disks.tags == {"backup": "skip"}
    assert [s.cron for s in gold.schedules] == ["0 0 */4 * * *"]
    assert (gold.retention.last, gold.retention.daily, gold.retention.weekly) == (6, 7, 4)
    assert gold.retention.monthly == 12 and gold.retention.min_keep == 3
    assert gold.replicate is not None and gold.replicate.region == "westus2"
    assert gold.replicate.resource_group == "rg-diskdr-westus2"
    assert gold.rpo == timedelta(hours=4)
    assert gold.catch_up == "latest"
    assert gold.retention_time_zone == "Europe/Berlin"
    assert silver.replicate is None
    assert silver.consistency == "disk"
    assert silver.retention_time_zone == "America/New_York"  # its schedule's zone
    assert policies.get("silver") is silver


DESIGN_EXAMPLE = """\
version: 1
policies:
  - name: gold
    target:                       # which VMs; all given selectors must match
      tags: {backup: gold}
      resourceGroups: []          # empty = any
      excludeDisks: {tags: {backup: skip}, luns: []}
    consistency: disk             # disk | vm-crash | vm-app
    schedules:                    # when points are taken (NCRONTAB, 6 fields)
      - {cron: "0 0 */4 * * *", timeZone: UTC}
    retention:                    # which primary points are kept (restic/borg-style buckets)
      last: 6
      daily: 7
      weekly: 4
      monthly: 12
    replicate:                    # optional secondary copy
      region: westus2
      resourceGroup: rg-diskdr-westus2
      retention: {daily: 14, weekly: 8, monthly: 12}
    rpo: PT4H                     # ISO 8601 duration, for compliance reporting
"""


def test_the_example_of_the_design_is_valid():
    (gold,) = parse_policy_text(DESIGN_EXAMPLE, "policies.yaml").policies
    assert gold.target.exclude_disks.tags == {"backup": "skip"}
    assert gold.replicate is not None and gold.replicate.retention.weekly == 8
    assert gold.rpo == timedelta(hours=4)


def test_yaml_is_read_as_yaml_1_2():
    # YAML 1.1 would read `no` as false; 1.2 keeps it a string, as a tag value must be.
    text = MINIMAL.replace("target: {}", "target: {tags: {backup: no}}")
    assert parse_policy_text(text, "p.yaml").policies[0].target.tags == {"backup": "no"}


def test_anchored_booleans_stay_booleans():
    text = MINIMAL.replace("{daily: 7}", "{daily: &yes true}")
    assert issues_of(text, "p.yaml") == [
        "p.yaml:6: policies[0].retention.daily: expected an integer, got true"
    ]


def test_defaults_of_a_minimal_policy():
    (policy,) = parse_policy_text(MINIMAL, "p.yaml").policies
    assert policy.consistency == "disk"
    assert policy.catch_up == "latest"
    assert policy.schedules[0].time_zone == "UTC"
    assert policy.target.tags == {} and policy.target.resource_groups == ()
    assert policy.target.exclude_disks.luns == ()
    assert policy.retention.min_keep == 1
    assert policy.replicate is None and policy.rpo is None and policy.time_zone is None
    assert policy.retention_time_zone == "UTC"


def test_retention_becomes_rules_in_the_policy_zone():
    policy = load_policy_file(ROOT / "policies.sample.yaml").get("gold")
    assert policy.retention_rules() == RetentionRules(
        last=6, daily=7, weekly=4, monthly=12, min_keep=3, time_zone="Europe/Berlin"
    )
    assert policy.replica_rules() == RetentionRules(
        daily=14, weekly=8, monthly=12, time_zone="Europe/Berlin"
    )
    within = Retention(within=timedelta(days=7), min_keep=2).rules("Asia/Tokyo")
    assert within == RetentionRules(within=timedelta(days=7), min_keep=2, time_zone="Asia/Tokyo")


def test_models_are_frozen():
    (policy,) = parse_policy_text(MINIMAL, "p.yaml").policies
    with pytest.raises(ValidationError):
        policy.name = "other"  # type: ignore[misc]


def test_snake_case_keys_are_not_accepted_in_files():
    text = MINIMAL.replace("{daily: 7}", "{daily: 7, min_keep: 2}")
    assert issues_of(text) == [
        "policies.yaml:6: policies[0].retention.min_keep: unknown key; did you mean 'minKeep'?"
    ]


def test_models_can_be_built_in_python_by_attribute_name():
    policy = Policy(
        name="p",
        target={},
        schedules=[{"cron": "0 0 1 * * *", "time_zone": "UTC"}],
        retention={"daily": 3, "min_keep": 2},
        catch_up="all",
    )
    assert policy.retention.min_keep == 2 and policy.catch_up == "all"


def test_json_files_are_read_with_line_numbers_and_tabs():
    text = (DATA / "broken.json").read_text().replace('"0 0 */4 * *"', '"0 0 */4 * * *"')
    text = text.replace("-4", "4").replace('"eastus 2"', '"eastus2"')
    policies = parse_policy_text(text, "policies.json")
    assert policies.policies[0].replicate is not None
    assert policies.policies[0].replicate.region == "eastus2"


def test_json_content_is_recognized_without_a_json_extension():
    text = (
        '{"version": 1, "policies": [{"name": "x", "target": {}, "schedules": [], '
        '"retention": {"daily": 1}}]}'
    )
    assert issues_of(text, "policies.conf") == [
        "policies.conf:1: policies[0].schedules: expected at least one schedule"
    ]


# -- errors, word for word -----------------------------------------------------------------


@pytest.mark.parametrize("name", BROKEN)
def test_broken_files_report_every_issue_word_for_word(name):
    expected = (DATA / f"{name}.expected").read_text().splitlines()
    assert issues_of((DATA / name).read_text(), name) == expected


def test_the_example_of_the_issue():
    (issue,) = issues_of((DATA / "broken-cron.yaml").read_text(), "policies.yaml")[:1]
    assert (
        issue
        == "policies.yaml:14: policies[0].schedules[1].cron: expected 6 NCRONTAB fields, got 5"
    )


def test_issues_are_sorted_by_line_and_carry_their_parts():
    with pytest.raises(PolicyError) as raised:
        parse_policy_text((DATA / "broken-values.yaml").read_text(), "v.yaml")
    issues = raised.value.issues
    assert [issue.line for issue in issues] == sorted(issue.line or 0 for issue in issues)
    assert issues[0] == PolicyIssue(
        "v.yaml", 7, "policies[0].target.excludeDisks.luns[1]", "expected an integer <= 63, got 64"
    )
    assert str(raised.value) == "\n".join(str(issue) for issue in issues)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "p.yaml:1: the file is empty; expected the keys version and policies"),
        ("- 1\n- 2\n", "p.yaml:1: expected a mapping with keys version and policies, got a list"),
        ("version: 1\n", "p.yaml:1: policies: required key is missing (a list of policies)"),
        ("version: 1\npolicies: []\n", "p.yaml:2: policies: expected at least one policy"),
        (
            "version: 1\npolicies: {}\n",
            "p.yaml:2: policies: expected a list of policies, got a mapping",
        ),
        (
            MINIMAL.replace("version: 1", "version: true"),
            "p.yaml:1: version: unsupported version true; expected 1",
        ),
        (
            MINIMAL.replace("{}", "{tags: [a]}"),
            "p.yaml:4: policies[0].target.tags: expected a mapping, got a list",
        ),
        (
            MINIMAL.replace("{}", "{tags: {5: x}}"),
            "p.yaml:4: policies[0].target.tags: keys must be strings, got 5",
        ),
        (
            MINIMAL.replace("{}", "{resourceGroups: [rg/app]}"),
            "p.yaml:4: policies[0].target.resourceGroups: expected a resource group name "
            "(1-90 letters, digits, _ - . ( ), not ending with .), got 'rg/app'",
        ),
        (
            MINIMAL.replace("name: bronze", "name: gold-"),
            NAME + NAME_RULE + "'gold-'",
        ),
        (
            MINIMAL.replace("name: bronze", "name: 7gold"),
            NAME + NAME_RULE + "'7gold'",
        ),
        (
            MINIMAL.replace("name: bronze", "name: null"),
            "p.yaml:3: policies[0].name: expected a string, got nothing (null)",
        ),
        (
            MINIMAL.replace("{daily: 7}", "{daily: 7.5}"),
            "p.yaml:6: policies[0].retention.daily: expected an integer, got 7.5",
        ),
        (
            MINIMAL.replace("{daily: 7}", "{daily: 7, within: P}"),
            WITHIN + DURATION + "'P'",
        ),
        (
            MINIMAL.replace("{daily: 7}", "{daily: 7, within: PT0S}"),
            "p.yaml:6: policies[0].retention.within: expected a positive duration, got 'PT0S'",
        ),
        (
            MINIMAL.replace("{daily: 7}", "{daily: 7, within: 7}"),
            WITHIN + DURATION + "7",
        ),
    ],
)
def test_structural_errors(text, expected):
    assert issues_of(text, "p.yaml") == [expected]


@pytest.mark.parametrize(
    ("region", "message"),
    [
        ("westus2", None),
        ("swedencentral", None),
        (
            "West US 2",
            UNKNOWN_REGION + "'West US 2'" + SUCH_AS + "; did you mean 'westus2'?",
        ),
        (
            "north-europe",
            UNKNOWN_REGION + "'north-europe'" + SUCH_AS + "; did you mean 'northeurope'?",
        ),
        (
            "westeruope",
            UNKNOWN_REGION + "'westeruope'" + SUCH_AS + "; did you mean 'westeurope'?",
        ),
        ("atlantis", UNKNOWN_REGION + "'atlantis'" + SUCH_AS),
    ],
)
def test_replica_region_names_are_checked(region, message):
    text = (
        MINIMAL
        + f"    replicate: {{region: {region}, resourceGroup: rg-dr, retention: {{daily: 3}}}}\n"
    )
    if message is None:
        assert parse_policy_text(text, "p.yaml").policies[0].replicate.region == region
        assert region in AZURE_REGIONS
    else:
        assert issues_of(text, "p.yaml") == [f"p.yaml:7: policies[0].replicate.region: {message}"]


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("PT4H", timedelta(hours=4)),
        ("P7D", timedelta(days=7)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("P2W", timedelta(weeks=2)),
        ("PT90M", timedelta(minutes=90)),
        ("PT1.5S", timedelta(seconds=1.5)),
        ("p1d", timedelta(days=1)),
    ],
)
def test_iso_durations(text, duration):
    assert parse_duration(text) == duration


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "P1Y",
            "'P1Y'" + MONTHS,
        ),
        (
            "P1M",
            "'P1M'" + MONTHS,
        ),
        ("PT", DURATION + "'PT'"),
        ("P1DT", DURATION + "'P1DT'"),
        ("p1dt", DURATION + "'p1dt'"),
        ("P", DURATION + "'P'"),
        ("4h", DURATION + "'4h'"),
        ("P0D", "expected a positive duration, got 'P0D'"),
    ],
)
def test_bad_durations(text, message):
    with pytest.raises(ValueError) as raised:
        parse_duration(text)
    assert str(raised.value) == message


def test_restore_point_spacing_ignores_dst_for_a_single_zone():
    # Hourly at :30 in New York is 1 h apart on the wall clock; on the spring-forward day
    # the skipped 02:30 fires at 03:00, 30 min before 03:30, which the cycle tolerates.
    text = (DATA / "broken-spacing.yaml").read_text()
    assert not any(
        "crash-hourly-ok" in issue or "policies[2]" in issue for issue in issues_of(text)
    )


def test_app_consistent_points_three_hours_apart_are_fine():
    text = MINIMAL.replace("target: {}", "target: {}\n    consistency: vm-app").replace(
        '"0 0 1 * * *"', '"0 0 */3 * * *"'
    )
    assert parse_policy_text(text, "p.yaml").policies[0].consistency == "vm-app"


def test_unreadable_file():
    with pytest.raises(PolicyError) as raised:
        load_policy_file(DATA / "missing.yaml")
    (issue,) = raised.value.issues
    assert issue.line is None
    assert str(issue).endswith("missing.yaml: cannot read: No such file or directory")


def test_validate_reports_field_errors_and_cross_field_rules_at_once(capsys):
    # A policy with a field error still gets the spacing and drill-needs-replicate rules.
    from diskdr.cli import main

    assert main(["validate", str(DATA / "broken-mixed.yaml")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert any("must be at least 3h apart" in line for line in lines), lines
    assert any("must also have replicate" in line for line in lines), lines
    assert any("retention.last: expected an integer >= 0" in line for line in lines), lines
    assert any("rpo: expected an ISO 8601 duration" in line for line in lines), lines
