"""Every setting the app reads at start is set by infra/'s app settings or has a default,
and the Bicep parameter defaults make a configuration the app accepts (with the same
defaults as the code, so the two cannot drift apart)."""

import re
from dataclasses import fields
from pathlib import Path

from diskdr.policy import parse_policy_text
from diskdr.settings import POLICY_TEXT, Settings
from tests.infra.bicep import INFRA, ROOT, diskdr_settings, parameter_defaults, platform_settings

# Sources whose DISKDR_* names are settings the app reads (the twin's and tests' own are not).
APP_SOURCES = ["function_app.py", "diskdr", "triggers", "activities", "orchestrations"]
# Read by the app, deliberately not set in Azure: their defaults are Azure's behaviour.
# (the CA bundle and static credential of the emulator; the twin's scaled clock)
TWIN_ONLY = {"DISKDR_CA_BUNDLE", "DISKDR_CREDENTIAL", "DISKDR_TIME_SCALE", "DISKDR_CLOCK_ANCHOR"}
# The operator CLI's (diskdr/cli_ops.py), read on an operator's machine, not by the app.
CLI_ONLY = {"DISKDR_URL", "DISKDR_KEY"}
# Placeholders for what Bicep computes at deployment time.
COMPUTED = {
    "DISKDR_SUBSCRIPTION_IDS": "00000000-0000-0000-0000-000000000001",
    "DISKDR_INSTALL_ID": "diskdr-prod",
    "DISKDR_ARM_ENDPOINT": "https://management.azure.com/",
}


def settings_read_by_the_app() -> set[str]:
    names: set[str] = set()
    for source in APP_SOURCES:
        path = ROOT / source
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            names |= set(re.findall(r"\"(DISKDR_[A-Z_]+)\"", file.read_text()))
    # Module-level constants naming a setting (settings.POLICY_TEXT and the like).
    names.add(POLICY_TEXT)
    return names


def bicep_environment() -> dict[str, str]:
    """The app settings main.bicep produces with every parameter at its default."""
    defaults = parameter_defaults(INFRA / "main.bicep")
    env = {}
    for name, value in diskdr_settings().items():
        if name in COMPUTED:
            env[name] = COMPUTED[name]
        elif name == POLICY_TEXT:  # loadTextContent('../policies.yaml') when policyText is empty
            assert defaults["policyText"] == ""
            env[name] = (ROOT / "policies.yaml").read_text()
        elif isinstance(value, str) and value in defaults:
            env[name] = str(defaults[value])
        elif isinstance(value, dict) and value.get("function", {}).get("type") == "string":
            argument = value["function"]["parameters"]["value_to_convert"]
            env[name] = str(defaults[argument])
        elif isinstance(value, str):  # a literal
            env[name] = value
        else:
            raise AssertionError(f"{name}: cannot evaluate {value!r}; extend this test")
    return env


def test_every_setting_the_app_reads_is_set_or_defaulted():
    set_by_bicep = set(diskdr_settings()) | set(platform_settings())
    read = settings_read_by_the_app()
    assert "DISKDR_TICK_SCHEDULE" in read and "DISKDR_SUBSCRIPTION_IDS" in read
    not_set = read - set_by_bicep - CLI_ONLY
    assert not_set <= TWIN_ONLY, f"read by the app but set by no app setting: {not_set - TWIN_ONLY}"
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in platform_settings()
    assert "AzureWebJobsStorage__credential" in platform_settings()


def test_the_bicep_defaults_are_a_configuration_the_app_accepts():
    env = bicep_environment()
    settings = Settings.from_env({**env, "AzureWebJobsScriptRoot": str(ROOT)})
    assert settings.subscription_ids == (COMPUTED["DISKDR_SUBSCRIPTION_IDS"],)
    assert settings.arm_endpoint == "https://management.azure.com"
    assert settings.credential == "default" and settings.ca_bundle is None
    assert settings.policy_file == ROOT / "policies.yaml"
    parse_policy_text(settings.policy_text or "", POLICY_TEXT)
    # Same defaults as the code: a Bicep default never silently changes the behaviour.
    code = Settings.from_env({k: env[k] for k in ("DISKDR_SUBSCRIPTION_IDS", "DISKDR_INSTALL_ID")})
    for field in fields(Settings):
        if field.name not in ("policy_text", "policy_file", "subscription_ids", "install_id"):
            assert getattr(settings, field.name) == getattr(code, field.name), field.name


def test_the_task_hub_and_storage_are_per_environment_and_identity_only():
    platform = platform_settings()
    assert platform["AzureWebJobsStorage__credential"] == "managedidentity"
    assert not any(name == "AzureWebJobsStorage" for name in platform)
    assert platform["AzureFunctionsJobHost__extensions__durableTask__hubName"] == "taskHub"
    storage = (INFRA / "app" / "storage.bicep").read_text()
    assert re.search(r"allowSharedKeyAccess: false", storage)
    assert Path(INFRA / "main.bicep").read_text().count("var taskHub = ") == 1
