"""Validation errors as one short sentence that names the field.

The same wording for every client: HTTP requests (422), socket messages
(an `error` message) and the command line.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

_BOUNDS = {
    "less_than_equal": ("at most", "le"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("below", "lt"),
    "greater_than": ("above", "gt"),
}


def field_name(loc, prefix: str = "") -> str:
    """('body', 'w1', 0, 1) -> 'w1[0][1]'; ('query', 'unit') -> 'unit'."""
    name = prefix
    for part in loc:
        if part in ("body", "query", "path"):
            continue
        name += f"[{part}]" if isinstance(part, int) else ("." if name else "") + str(part)
    return name or "body"


def sentence(error: dict) -> str:
    """What is wrong with one field, with the allowed range where there is one."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        return f"must be {words} {error['ctx'][key]}, got {error['input']!r}"
    return error["msg"].removeprefix("Value error, ")


def first_problem(errors: list[dict], prefix: str = "") -> tuple[str, str]:
    """(field, "field: sentence") for the first of pydantic's errors."""
    first = errors[0]
    if first["type"] == "json_invalid":
        return "body", "body: not valid JSON"
    field = field_name(first["loc"], prefix)
    return field, f"{field}: {sentence(first)}"


async def request_validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
    """422 with one sentence naming the field, instead of pydantic's list."""
    field, detail = first_problem(err.errors())
    return JSONResponse({"detail": detail, "field": field}, status_code=422)
