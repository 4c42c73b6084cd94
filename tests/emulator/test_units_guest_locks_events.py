"""Pure parts added with restore points: reading run command scripts, lock scopes, and Event
Grid's timestamps and log redaction."""

from __future__ import annotations

from azure.functions.eventgrid import EventGridEventInConverter

from emulator.compute.models.guest import read_script
from emulator.eventgrid.delivery import event_time, redact
from emulator.locks.models import _within, normalize_scope


def test_script_freezes_and_thaws_at_their_place_in_time():
    run = read_script(
        [
            "#!/bin/bash",
            "echo quiescing $db",
            "fsfreeze --freeze /data",
            "sleep 30",
            "fsfreeze -u /data\nsleep 5",
            "echo done 1>&2",
            "exit 2",
            "echo unreachable",
        ],
        {"db": "orders"},
    )
    assert run.actions == [(0.0, "freeze"), (30.0, "thaw")]
    assert run.seconds == 35.0
    assert run.stdout == ["quiescing orders"] and run.stderr == ["done"]
    assert run.exit_code == 2


def test_markers_work_in_any_language():
    run = read_script(
        [
            "# diskdr-guest: freeze",
            "Start-Sleep -Seconds 12",
            "Write-Host $env:who",
            "# diskdr-guest: thaw",
        ],
        {"who": "vss"},
    )
    assert run.actions == [(0.0, "freeze"), (12.0, "thaw")]
    assert run.stdout == ["vss"]


def test_lock_scopes():
    scope = normalize_scope(
        "subscriptions/s/resourcegroups/rg/providers/Microsoft.Compute//disks/d/"
    )
    assert scope == "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d"
    assert _within(scope, "/subscriptions/S/resourceGroups/RG")
    assert not _within("/subscriptions/s/resourceGroups/rg-2", "/subscriptions/s/resourceGroups/rg")


def test_event_time_is_what_functions_parse():
    stamp = event_time(1_795_000_000.25)
    assert stamp == "2026-11-18T11:06:40.2500000Z"
    parsed = EventGridEventInConverter._parse_datetime(stamp)
    assert parsed is not None and parsed.timestamp() == 1_795_000_000.25


def test_webhook_keys_are_not_logged():
    url = "http://127.0.0.1:7071/runtime/webhooks/eventgrid?functionName=f&code=s3cret&x=1"
    assert (
        redact(url)
        == "http://127.0.0.1:7071/runtime/webhooks/eventgrid?functionName=f&code=***&x=1"
    )
