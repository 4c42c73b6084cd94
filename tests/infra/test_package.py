"""The deployed package: what ``.funcignore`` leaves of the repository. It must hold
everything ``function_app.py`` imports and the policy file the settings resolve; a fresh
interpreter imports ``function_app`` from a copy of exactly that package."""

import fnmatch
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.bicep import ROOT

OUR_PACKAGES = ("diskdr", "triggers", "activities", "orchestrations")


def ignore_patterns() -> list[str]:
    lines = (ROOT / ".funcignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def is_ignored(relative: Path, patterns: list[str]) -> bool:
    # gitignore, as far as .funcignore uses it: a pattern without a slash matches any
    # path component; one with a slash matches the path from the root.
    for pattern in patterns:
        if "/" in pattern:
            if fnmatch.fnmatch(relative.as_posix(), pattern.lstrip("/")):
                return True
        elif any(fnmatch.fnmatch(part, pattern) for part in relative.parts):
            return True
    return False


def package_files() -> list[Path]:
    """The files of the repository's folder less .funcignore's (what Core Tools and azd
    pack)."""
    patterns = ignore_patterns()
    files = []
    for folder, dirs, names in os.walk(ROOT):
        base = Path(folder).relative_to(ROOT)
        dirs[:] = [name for name in dirs if not is_ignored(base / name, patterns)]
        files += [base / name for name in names if not is_ignored(base / name, patterns)]
    return sorted(files)


def test_the_package_is_the_app_and_nothing_else():
    top = {path.parts[0] for path in package_files()}
    assert top == {
        "function_app.py",
        "host.json",
        "requirements.txt",
        "policies.yaml",
        *OUR_PACKAGES,
    }


@pytest.mark.slow
def test_function_app_imports_from_a_copy_of_the_package(tmp_path):
    app = tmp_path / "app"
    for relative in package_files():
        (app / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, app / relative)
    probe = f"""
import json, sys
sys.path.insert(0, ".")
import function_app
from diskdr.settings import Settings
from diskdr.service import get_service
ours = {{name: getattr(module, "__file__", None) for name, module in sys.modules.items()
        if name.split(".")[0] in {OUR_PACKAGES!r}}}
names = sorted(f.get_function_name() for f in function_app.app.get_functions())
settings = Settings.from_env()
policies = [p.name for p in get_service().policies().policies]
print(json.dumps({{"modules": ours, "functions": names, "policyFile": str(settings.policy_file),
                  "policies": policies}}))
"""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DISKDR_", "PYTHON")) and key != "AzureWebJobsScriptRoot"
    }
    env.update(
        {
            "AzureWebJobsScriptRoot": str(app),
            "DISKDR_SUBSCRIPTION_IDS": "00000000-0000-0000-0000-000000000001",
            "DISKDR_INSTALL_ID": "package-test",
            "PYTHONSAFEPATH": "1",  # nothing from the repository's working directory
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=app, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    outside = {
        name: file
        for name, file in found["modules"].items()
        if file and not file.startswith(str(app))
    }
    assert not outside, f"imported from outside the package: {outside}"
    assert {"scheduler_tick", "vm_changed", "health_status", "start_backup"} <= set(
        found["functions"]
    )
    assert Path(found["policyFile"]) == app / "policies.yaml"
    assert found["policies"]
