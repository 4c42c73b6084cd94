"""The diskdr command: exit codes, messages on stderr, and the JSON it prints."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from diskdr.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = str(ROOT / "policies.sample.yaml")
DATA = Path(__file__).resolve().parent / "data" / "policy"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_accepts_the_sample(capsys):
    code, out, err = run(capsys, "validate", SAMPLE)
    assert code == 0 and err == ""
    assert out == f"{SAMPLE}: valid (2 policies: gold, silver)\n"


def test_validate_prints_every_issue_to_stderr_and_exits_2(capsys, monkeypatch):
    monkeypatch.chdir(DATA)
    code, out, err = run(capsys, "validate", "broken-cron.yaml")
    assert code == 2 and out == ""
    assert err == (DATA / "broken-cron.yaml.expected").read_text()


def test_validate_of_a_missing_file_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "validate", str(tmp_path / "none.yaml"))
    assert code == 2
    assert err == f"{tmp_path / 'none.yaml'}: cannot read: No such file or directory\n"


def test_slots_json(capsys):
    code, out, _ = run(
        capsys, "slots", SAMPLE, "--from", "2026-03-07T00:00Z", "--to", "2026-03-08", "--json"
    )
    assert code == 0
    document = json.loads(out)
    assert document["from"] == "2026-03-07T00:00Z" and document["to"] == "2026-03-08T00:00Z"
    gold, silver = document["policies"]
    assert gold == {
        "name": "gold",
        "slots": [f"2026-03-07T{hour:02d}:00Z" for hour in (4, 8, 12, 16, 20)]
        + ["2026-03-08T00:00Z"],
    }
    assert silver == {"name": "silver", "slots": ["2026-03-07T06:30Z"]}  # 01:30 EST


def test_slots_text_shows_local_time_for_zoned_schedules(capsys):
    code, out, _ = run(capsys, "slots", SAMPLE, "--from", "2026-07-01", "--to", "2026-07-02")
    assert code == 0
    assert "policy gold: 6 slot(s); 0 0 */4 * * * (UTC); catchUp latest" in out
    assert "  2026-07-01T05:30Z  (2026-07-01 01:30 EDT America/New_York)" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "2026-03-08", "--to", "2026-03-07"], "diskdr: --to must be later than --from"),
        (["--from", "yesterday", "--to", "2026-03-07"], "argument --from: expected an ISO 8601"),
        (["--to", "2026-03-07"], "the following arguments are required: --from"),
    ],
)
def test_slots_refuses_bad_ranges(capsys, argv, message):
    code, _, err = run(capsys, "slots", SAMPLE, *argv)
    assert code == 2
    assert message in err


def test_simulate_json_has_the_documented_shape(capsys):
    code, out, _ = run(
        capsys,
        "simulate",
        SAMPLE,
        "--days",
        "30",
        "--start",
        "2026-01-01",
        "--interval-changes",
        "8",
        "--disk-size",
        "256",
        "--price-transfer",
        "0.05",
        "--json",
    )
    assert code == 0
    document = json.loads(out)
    assert document["assumptions"]["diskSizeGB"] == 256
    assert document["assumptions"]["changesGBPerDay"] == 8
    assert document["assumptions"]["prices"]["transferGBUSD"] == 0.05
    assert [p["name"] for p in document["policies"]] == ["gold", "silver"]
    gold = document["policies"][0]
    assert [r["region"] for r in gold["regions"]] == ["primary", "westus2"]
    for entry in gold["regions"]:
        assert entry["taken"] == 180
        assert {"region", "taken", "kept", "storageGB", "transferGB"} <= set(entry)
        assert all(isinstance(k["slot"], str) and k["reasons"] for k in entry["kept"])
    assert gold["regions"][1]["costUSD"]["transfer"] == round(
        gold["regions"][1]["transferGB"] * 0.05, 2
    )


def test_simulate_table_by_default(capsys):
    code, out, _ = run(capsys, "simulate", SAMPLE, "--days", "2", "--start", "2026-01-01")
    assert code == 0
    assert out.startswith("Simulation from 2026-01-01T00:00Z for 2 days")
    assert "policy gold (disk)" in out and "kept in westus2 at the end" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--days", "0"],
        ["--days", "many"],
        ["--days", "3", "--disk-size", "-1"],
        ["--days", "3", "--interval-changes", "nan"],
        [],
    ],
)
def test_simulate_refuses_bad_numbers(capsys, argv):
    code, _, err = run(capsys, "simulate", SAMPLE, *argv)
    assert code == 2 and "error:" in err


def test_simulate_of_an_invalid_file_exits_2(capsys, monkeypatch):
    monkeypatch.chdir(DATA)
    code, out, err = run(capsys, "simulate", "broken.json", "--days", "3")
    assert code == 2 and out == ""
    assert err == (DATA / "broken.json.expected").read_text()


def test_no_command_is_a_usage_error(capsys):
    code, _, err = run(capsys)
    assert code == 2 and "usage: diskdr" in err


def test_python_dash_m_and_the_console_script_both_work():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    module = subprocess.run(
        [sys.executable, "-m", "diskdr", "validate", SAMPLE],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert module.returncode == 0, module.stderr
    script = shutil.which("diskdr", path=str(Path(sys.executable).parent))
    assert script is not None, "the diskdr console script is not installed in this venv"
    broken = subprocess.run(
        [script, "validate", str(DATA / "broken.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert broken.returncode == 2
    assert broken.stderr.splitlines()[0].endswith(
        "broken.json:8: policies[0].schedules[0].cron: expected 6 NCRONTAB fields, got 5"
    )
