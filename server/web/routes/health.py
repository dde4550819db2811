"""Liveness and readiness probes."""

from apiflask import APIBlueprint, Schema
from apiflask.fields import Dict, String
from apiflask.validators import OneOf

from server.security_manager.auth import public
from server.services import health

bp = APIBlueprint("health", __name__, tag="Health")

# Never IP-blocked or rate-limited: a probe must see the process, not the caller's standing.
PROBE_ENDPOINTS = frozenset({"health.healthz", "health.readyz"})


class HealthOut(Schema):
    status = String(required=True, validate=OneOf(["ok", "ready", "unavailable"]))
    checks = Dict(keys=String(), values=String())


@bp.get("/healthz")
@public
@bp.output(HealthOut)
@bp.doc(operation_id="getLiveness", summary="Liveness: the process answers; touches no dependency")
def healthz():
    return {"status": "ok", "checks": {}}


@bp.get("/readyz")
@public
@bp.output(HealthOut)
@bp.doc(
    operation_id="getReadiness",
    summary="Readiness: the database and Redis answer",
    responses=[200, 503],
)
def readyz():
    checks = health.check_dependencies()
    ready = all(value == "ok" for value in checks.values())
    return {"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503
