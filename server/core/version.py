"""The API's title and version: the OpenAPI document's, the backup manifests' and the status'."""

API_TITLE = "Job Application Agent API"
API_VERSION = "1.0.0"
