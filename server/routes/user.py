"""The authenticated user's own resources."""

from apiflask import APIBlueprint

from server.auth import current_user
from server.schemas.auth import UserOut

bp = APIBlueprint("user", __name__, url_prefix="/api/user", tag="User")


@bp.get("/profile")
@bp.output(UserOut)
@bp.doc(summary="The caller's account", responses=[200, 401])
def profile():
    return current_user()
