"""schemathesis against the HTTP API on devhost + emulator, from the app's own
``GET /api/openapi.json``: for every operation, bounded positive and negative examples
(derandomized: the same every run). No answer is a 5xx or a status the document does not
list, every answer matches its documented schema and headers, every 4xx is the JSON error
shape with a code, no answer carries a durable webhook URL or a key, and requests that
were refused started nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import POLICIES, TwinRun, estate, problems, start_twin, vm

pytestmark = pytest.mark.slow

EXAMPLES = 50  # per operation and mode: the whole module stays well under a minute
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ESTATE = estate({"rg-fuzz": [vm("vm-z1", "e2e"), vm("vm-z2", "none")]})


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinRun]:
    state_dir = tmp_path_factory.mktemp("fuzz")
    with start_twin(state_dir, ESTATE, 1, template=POLICIES / "http.yaml") as twin_run:
        report = twin_run.wait_cycle(twin_run.slots[0])
        assert report["phase"] == "Completed", problems(report)
        yield twin_run


def instance_ids(run: TwinRun) -> set[str]:
    host = run.twin.host
    assert host is not None
    return {status.instance_id for status in host.run(host.client().get_status_all())}


def check_answer(run: TwinRun, status: int, text: str, headers: dict[str, str]) -> None:
    """What every answer must be, beyond the document: errors in our shape, no secrets."""
    host = run.twin.host
    assert host is not None
    if 400 <= status < 500 and status != 401:  # 401 is the host's, without a body
        body = json.loads(text)
        error = body["error"]
        assert isinstance(error["code"], str) and error["code"], body
        assert isinstance(error["message"], str) and error["message"], body
    leaked = text + json.dumps(headers)
    assert "/runtime/webhooks/" not in leaked
    assert host.master_key not in leaked and host.function_key not in leaked


def test_the_api_holds_its_contract_under_fuzzing(run: TwinRun):
    host = run.twin.host
    assert host is not None
    status, document = run.twin.http("GET", "/api/openapi.json")
    assert status == 200, document
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=host.url)
    headers = {"x-functions-key": host.function_key}
    before = instance_ids(run)
    snapshots_before = {snapshot.id for snapshot in run.snapshots()}
    accepted: set[str] = set()
    operations = 0
    statuses: Counter[tuple[str, int]] = Counter()

    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case: Any) -> None:
                response = case.call(headers=headers, timeout=60)
                case.validate_response(response, checks=CHECKS, headers=headers)
                check_answer(run, response.status_code, response.text, dict(response.headers))
                statuses[(case.operation.label, response.status_code)] += 1
                if response.status_code == 202:
                    accepted.add(response.json()["id"])

            exercise()

    assert operations == sum(len(item) for item in document["paths"].values())
    # The fuzzing reached the refusals as well as the answers.
    seen = {status for _, status in statuses}
    assert {200, 400, 404} <= seen, statuses
    # Refused requests started nothing: every new instance belongs to an accepted run.
    new = instance_ids(run) - before
    assert {instance.split(":", 1)[0] for instance in new} <= accepted, new
    if not accepted:  # and nothing was made in Azure
        assert {snapshot.id for snapshot in run.snapshots()} == snapshots_before
    assert host.request("GET", "/api/compliance", key=host.function_key)[0] == 200
