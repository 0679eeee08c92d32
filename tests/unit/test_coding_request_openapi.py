"""The coding-request routes are documented as OpenAPI 3.1 path items."""

from __future__ import annotations

from handlers.api import coding_requests as api
from handlers.api.openapi import PATHS, SCHEMAS


def test_routes_are_documented() -> None:
    assert api.setup is not None
    assert set(PATHS["/api/v1/coding-requests"]) >= {"get"}
    item = PATHS["/api/v1/coding-requests/{number}"]
    assert set(item) >= {"get", "patch"}
    assert set(item["patch"]["responses"]) >= {"200", "400", "403", "404", "409"}
    patch_schema = SCHEMAS["CodingRequestPatch"]
    assert patch_schema["additionalProperties"] is False
    assert set(patch_schema["properties"]) == {
        "status",
        "estimated_complexity",
        "implementation_plan",
        "files_to_create",
        "files_to_modify",
        "test_files",
        "branch_name",
    }
