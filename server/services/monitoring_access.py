"""Who may read `/metrics`: a configured network, or an admin with a valid token."""

from __future__ import annotations

from flask import current_app

from server.core.config import get_settings
from server.core.errors import Forbidden, Unauthorized
from server.ops import monitoring


def authorize_scrape(*, address: str | None) -> None:
    """Allow a scrape from `METRICS_ALLOWED_NETWORKS`, else only with an admin's access token,
    checked against PostgreSQL (revocations and the account's state)."""
    if monitoring.scrape_allowed(address, get_settings().metrics_allowed_networks):
        return
    from server.security_manager import session_state, token_revocations
    from server.security_manager.auth import decode_request_token

    payload = decode_request_token(current_app, "admin")  # raises Unauthorized
    if token_revocations.state_in_database_for(payload) is not None:
        raise Unauthorized("Token has been revoked")
    state = session_state.load(int(payload["sub"]))
    if not state.active or state.session_generation != payload.get("sgen", 0):
        raise Unauthorized("This session has ended; log in again", code="session_revoked")
    if not state.is_admin:
        raise Forbidden("Admin role required")


def scrape(*, address: str | None) -> tuple[bytes, str]:
    """The metrics text for an authorised caller."""
    authorize_scrape(address=address)
    return monitoring.render_metrics()
