"""OpenAPI post-processing: document the envelope and the error body on every operation."""

ERROR_BODY = {
    "type": "object",
    "description": "Every error under /api/ (docs/api.md, Conventions).",
    "properties": {
        "statusCode": {"type": "integer", "example": 400},
        "message": {"type": "string", "example": "Invalid input."},
        "timestamp": {"type": "string", "format": "date-time", "example": "2026-11-23T13:33:25+00:00"},
        "path": {"type": "string", "example": "/api/bookings"},
        "method": {"type": "string", "example": "POST"},
        "errors": {
            "type": "object",
            "description": "Validation errors only: field name → messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["statusCode", "message", "timestamp", "path", "method"],
}

UNENVELOPED = {"/api/schema/", "/api/docs/"}


def envelope_postprocessing_hook(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = ERROR_BODY
    error_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    for path, operations in result.get("paths", {}).items():
        if path in UNENVELOPED:
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                content = response.get("content", {}).get("application/json")
                if code.startswith("2") and content and "schema" in content:
                    content["schema"] = {
                        "type": "object",
                        "properties": {"data": content["schema"]},
                        "required": ["data"],
                    }
            responses.setdefault("4XX", {"description": "Client error (error body).", **error_ref})
            responses.setdefault(
                "429",
                {
                    "description": "Rate limited; `Retry-After` gives the seconds to wait.",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    **error_ref,
                },
            )
            responses.setdefault("5XX", {"description": "Server or provider (502) error.", **error_ref})
    return result
