"""Settings and credentials: required values, clear errors, the emulator token's guard."""

import re
from pathlib import Path

import pytest

from diskdr.azure.clients import Clients, EmulatorCredential, client_options, make_credential
from diskdr.errors import ConfigError
from diskdr.settings import Settings, parse_duration_setting

SUB = "00000000-0000-0000-0000-000000000001"
BASE = {"DISKDR_SUBSCRIPTION_IDS": SUB, "DISKDR_INSTALL_ID": "prod-1"}


def settings(**extra: str) -> Settings:
    return Settings.from_env({**BASE, **extra})


def test_defaults_follow_the_design_table(tmp_path):
    loaded = Settings.from_env({**BASE, "AzureWebJobsScriptRoot": str(tmp_path)})
    assert loaded.subscription_ids == (SUB,)
    assert loaded.policy_file == tmp_path / "policies.yaml"
    assert loaded.arm_endpoint == "https://management.azure.com"
    assert (loaded.credential, loaded.tick_schedule) == ("default", "0 */5 * * * *")
    assert loaded.ca_bundle is None and loaded.max_copies_per_region == 50


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DISKDR_SUBSCRIPTION_IDS": ""}, "DISKDR_SUBSCRIPTION_IDS: required"),
        (
            {"DISKDR_SUBSCRIPTION_IDS": "abc"},
            "DISKDR_SUBSCRIPTION_IDS: 'abc' is not a subscription id",
        ),
        ({"DISKDR_INSTALL_ID": ""}, "DISKDR_INSTALL_ID: required"),
        ({"DISKDR_INSTALL_ID": "a b"}, "DISKDR_INSTALL_ID: expected 1-63 letters"),
        ({"DISKDR_CREDENTIAL": "token"}, "DISKDR_CREDENTIAL: expected one of default, emulator"),
        ({"DISKDR_ARM_ENDPOINT": "http://x"}, "DISKDR_ARM_ENDPOINT: expected an https:// URL"),
        (
            {"DISKDR_MAX_COPIES_PER_REGION": "101"},
            "DISKDR_MAX_COPIES_PER_REGION: expected an integer from 1 to 100, got 101",
        ),
        ({"DISKDR_PRUNE_DRY_RUN": "maybe"}, "DISKDR_PRUNE_DRY_RUN: expected true or false"),
        ({"DISKDR_GROUP_DEADLINE": "2h"}, "DISKDR_GROUP_DEADLINE: expected an ISO 8601 duration"),
        ({"DISKDR_COPY_DEADLINE": "P1DT"}, "DISKDR_COPY_DEADLINE: expected an ISO 8601 duration"),
    ],
)
def test_bad_settings_name_the_setting(env, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({**BASE, **env})


def test_durations():
    assert parse_duration_setting("X", "P1DT12H").total_seconds() == 36 * 3600
    assert parse_duration_setting("X", "pt90m").total_seconds() == 5400
    with pytest.raises(ConfigError):
        parse_duration_setting("X", "PT")


def test_relative_paths_resolve_against_the_app_root(tmp_path):
    loaded = Settings.from_env(
        {
            **BASE,
            "AzureWebJobsScriptRoot": str(tmp_path),
            "DISKDR_POLICY_FILE": "conf/p.yaml",
            "DISKDR_CA_BUNDLE": "ca.pem",
        }
    )
    assert loaded.policy_file == tmp_path / "conf" / "p.yaml"
    assert loaded.ca_bundle == str(tmp_path / "ca.pem")
    assert Settings.from_env({**BASE, "DISKDR_POLICY_FILE": "/etc/p.yaml"}).policy_file == Path(
        "/etc/p.yaml"
    )


@pytest.mark.parametrize(
    "endpoint", ["https://127.0.0.1:8443", "https://localhost:1", "https://[::1]:9"]
)
def test_emulator_token_only_for_loopback(endpoint):
    credential = make_credential(
        settings(DISKDR_CREDENTIAL="emulator", DISKDR_ARM_ENDPOINT=endpoint)
    )
    assert isinstance(credential, EmulatorCredential)
    assert credential.get_token("scope").token


@pytest.mark.parametrize(
    "endpoint",
    ["https://management.azure.com", "https://127.0.0.1.example.com", "https://10.0.0.1"],
)
def test_emulator_token_refused_elsewhere(endpoint):
    with pytest.raises(ConfigError, match="DISKDR_CREDENTIAL=emulator is refused"):
        make_credential(settings(DISKDR_CREDENTIAL="emulator", DISKDR_ARM_ENDPOINT=endpoint))


def test_clients_are_made_once_per_subscription():
    clients = Clients(
        settings(DISKDR_CREDENTIAL="emulator", DISKDR_ARM_ENDPOINT="https://127.0.0.1:1")
    )
    assert clients.compute(SUB) is clients.compute(SUB)
    options = client_options(clients.settings)
    assert options["user_agent"].startswith("diskdr/")
    assert options["base_url"] == "https://127.0.0.1:1"


def test_tick_schedule_defaults_and_is_checked():
    from diskdr.settings import tick_schedule

    assert tick_schedule({}) == "0 */5 * * * *"
    assert tick_schedule({"DISKDR_TICK_SCHEDULE": "0 */10 * * * *"}) == "0 */10 * * * *"
    with pytest.raises(ConfigError, match=r"^DISKDR_TICK_SCHEDULE: expected 6 NCRONTAB fields"):
        tick_schedule({"DISKDR_TICK_SCHEDULE": "*/5 * * * *"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DISKDR_DEBOUNCE", "PT0S", "DISKDR_DEBOUNCE: expected at least 60 s, got 0:00:00"),
        ("DISKDR_DEBOUNCE", "PT30S", "DISKDR_DEBOUNCE: expected at least 60 s, got 0:00:30"),
        ("DISKDR_CATCH_UP_WINDOW", "PT0S", "DISKDR_CATCH_UP_WINDOW: expected at least 1 s"),
    ],
)
def test_durations_must_be_long_enough(name, value, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        Settings.from_env({**BASE, name: value})


def test_purge_after_defaults_to_the_catch_up_window_and_never_undercuts_it():
    from datetime import timedelta

    from diskdr.settings import DEFAULT_PURGE_SCHEDULE, purge_schedule

    assert Settings.from_env({**BASE}).purge_after == timedelta(days=1)
    assert Settings.from_env({**BASE, "DISKDR_CATCH_UP_WINDOW": "P2D"}).purge_after == timedelta(
        days=2
    )
    assert Settings.from_env({**BASE, "DISKDR_PURGE_AFTER": "P7D"}).purge_after == timedelta(days=7)
    with pytest.raises(ConfigError, match="DISKDR_PURGE_AFTER: expected at least"):
        Settings.from_env({**BASE, "DISKDR_PURGE_AFTER": "PT1H"})
    assert purge_schedule({}) == (DEFAULT_PURGE_SCHEDULE, None)
    schedule, error = purge_schedule({"DISKDR_PURGE_SCHEDULE": "every day"})
    assert schedule == DEFAULT_PURGE_SCHEDULE and error and "DISKDR_PURGE_SCHEDULE" in error
