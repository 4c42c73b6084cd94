"""``GET /api/health``: is diskdr configured well enough to run (settings, policy)?

Answers 200 when healthy and 503 with the problems (each a JSON error: code, message,
target) when not, so a broken setting or policy shows in one place instead of in every
function's failures.
"""

import json
import logging

import azure.durable_functions as df
import azure.functions as func

from diskdr.health import health
from diskdr.policy import PolicySet
from diskdr.service import get_service
from diskdr.settings import Settings

bp = df.Blueprint()
log = logging.getLogger(__name__)


def _policies(settings: Settings) -> PolicySet:
    # The service the other functions use (its loader re-reads a changed policy file).
    return get_service().policies()


@bp.route(route="health", methods=["GET"])
def health_status(req: func.HttpRequest) -> func.HttpResponse:
    report = health(_policies)
    if report["problems"]:
        log.error("diskdr is unhealthy: %s", report["problems"])
    return func.HttpResponse(
        json.dumps(report),
        status_code=200 if report["status"] == "healthy" else 503,
        mimetype="application/json",
    )
