"""The alert rules read the line diskdr logs for every finished run: the KQL ``parse`` of
infra/app/alerts.bicep, applied (as a regular expression with KQL's semantics) to what
``diskdr.report.run_event`` writes, yields every field the queries use."""

import re
from datetime import UTC, datetime

from diskdr.backup import CycleJob, PolicyRef
from diskdr.report import RUN_EVENT, run_event, run_report
from tests.infra.bicep import INFRA, parse

TOKEN = re.compile(r'"(?P<literal>[^"]*)"|(?P<column>[A-Za-z]+)(?::(?P<kind>[a-z]+))?')


def kql_parse(pattern: str, message: str) -> dict[str, object] | None:
    """``message`` parsed like KQL's ``parse message with <pattern>`` (simple mode: each
    column takes the text up to the next literal; ``long`` columns must be integers)."""
    regex = ""
    kinds = {}
    for token in TOKEN.finditer(pattern):
        if token["literal"] is not None:
            regex += re.escape(token["literal"])
        else:
            kinds[token["column"]] = token["kind"] or "string"
            regex += rf"(?P<{token['column']}>.*?)"
    match = re.fullmatch(regex, message)
    if match is None:
        return None
    return {
        name: int(value) if kinds[name] == "long" else value
        for name, value in match.groupdict().items()
    }


def run_lines_pattern() -> str:
    query = parse(INFRA / "app" / "alerts.bicep")["variables"]["runLines"]["value"]
    assert f'startswith "{RUN_EVENT} "' in query
    return query.split(" parse message with ", 1)[1]


def test_the_alert_query_reads_every_field_of_the_run_line():
    job = CycleJob(
        policy=PolicyRef(name="gold", rpo_seconds=14400),
        slot=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        install_id="alerts-test",
        trigger="schedule",
    )
    now = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    report = run_report(job, [], None, now, now, error="inventory failed: throttled")
    line = run_event(report, job.policy.rpo_seconds)
    fields = kql_parse(run_lines_pattern(), line)
    assert fields == {
        "policy": "gold",
        "slot": report["slot"],
        "trigger": "schedule",
        "phase": "Failed",
        "rpoSeconds": 14400,
        "vms": 0,
        "failed": 0,
    }


def test_the_queries_use_only_parsed_columns_and_the_phases_diskdr_reports():
    resources = parse(INFRA / "app" / "alerts.bicep")["resources"]
    queries = {
        name: resource["config"]["properties"]["criteria"]["allOf"][0]["query"]
        for name, resource in resources.items()
    }
    assert set(queries) == {"failedRuns", "rpoBreaches", "failingFunctions"}
    assert '"Failed", "PartiallyFailed"' in queries["failedRuns"]
    assert 'phase == "Completed"' in queries["rpoBreaches"]
    assert "rpoSeconds * 1s" in queries["rpoBreaches"]
