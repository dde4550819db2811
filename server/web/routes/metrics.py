"""`GET /metrics`: the Prometheus exposition, for scrapers on configured networks or admins."""

from apiflask import APIBlueprint
from flask import Response, request

from server.security_manager.auth import public
from server.services import monitoring_access

bp = APIBlueprint("metrics", __name__, tag="Monitoring")


@bp.get("/metrics")
@public  # the view decides: a configured network, or an admin's token
@bp.doc(
    operation_id="getMetrics",
    summary="Prometheus metrics (text exposition format)",
    description="Reachable from `METRICS_ALLOWED_NETWORKS`, or with an admin's access token.",
    responses={
        200: {
            "description": "Prometheus text format 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        401: "Not from an allowed network, and no valid token",
        403: "The token is not an admin's",
    },
)
def metrics():
    body, content_type = monitoring_access.scrape(address=request.remote_addr)
    return Response(body, content_type=content_type)
