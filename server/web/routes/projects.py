"""Project analysis: rank the caller's projects for a job."""

from apiflask import APIBlueprint

from server.schemas.jobs import JobSubmittedOut, ProjectAnalysisPayload
from server.security_manager.auth import current_user
from server.services import projects

bp = APIBlueprint("projects", __name__, url_prefix="/api/projects", tag="Projects")


@bp.post("/analyze")
@bp.input(ProjectAnalysisPayload, arg_name="body")
@bp.output(JobSubmittedOut, status_code=202)
@bp.doc(
    operation_id="analyzeProjects",
    summary="Queue a `project_analysis` job: rank every project for a job description or a posting",
    description="The same job as `POST /api/jobs` with type `project_analysis`; its result "
    "ranks every project with a score, its breakdown and reasons, and says which to "
    "feature and which to swap into the resume. Counts against "
    "`project_analysis_per_user_per_day` when queued (429 beyond it).",
    responses=[202, 401, 404, 422, 429],
)
def analyze(body):
    submitted = projects.analyze(user=current_user(), payload=body)
    return submitted, 202, {"Location": submitted["status_url"]}
