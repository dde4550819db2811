"""Queued work: submit, inspect and cancel jobs."""

from apiflask import APIBlueprint

bp = APIBlueprint("jobs", __name__, url_prefix="/api/jobs", tag="Jobs")
