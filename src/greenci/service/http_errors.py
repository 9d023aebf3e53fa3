"""One error body for every failure the API answers, documented in its OpenAPI, and JSON that always encodes.

Why: a client (and schemathesis) must be able to rely on the documented shape whatever failed: a field
greenci refused (``{"error", "fields"}``), a request FastAPI could not validate (the same, plus its
``detail`` list), a missing job or a conflict. Strings that cannot be stored or encoded (a lone UTF-16
surrogate, NUL) are refused at the door with a 422 naming the field, never a 500 later.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, model_validator
from starlette.exceptions import HTTPException  # FastAPI's own (a body that is not JSON) derives from it

from greenci.errors import GreenciError, SourceError

__all__ = ["AsciiJSONResponse", "ErrorOut", "CleanIn", "install_error_handlers", "responses"]


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII characters escaped: any Python string encodes, whatever a client sent."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class ErrorOut(BaseModel):
    """Why a request failed: the message, the request fields it is about, and FastAPI's list for validation."""

    error: str
    fields: list[str] = []
    detail: str | list[dict[str, Any]] | None = None


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error codes an operation may answer, all with :class:`ErrorOut`."""
    words = {400: "The body is not JSON", 401: "No valid token", 403: "The token lacks the scope",
             404: "No such job (for this tenant)", 409: "The job is in another state, or the key was reused",
             422: "A field is not valid", 429: "Rate limit", 501: "Not available with this source",
             503: "A remote source failed"}
    return {c: {"model": ErrorOut, "description": words.get(c, "Error")} for c in codes}


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _bad_text(value: Any, path: str) -> str | None:
    """The path of the first string holding NUL or a lone surrogate (which cannot be stored), else None."""
    if isinstance(value, str):
        return path if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            found = _bad_text(k, path) or _bad_text(v, f"{path}.{k}" if path else str(k))
            if found is not None:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _bad_text(v, f"{path}.{i}")
            if found is not None:
                return found
    return None


class CleanIn(BaseModel):
    """A request body that refuses unknown fields and text no store can hold (NUL, lone surrogates)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _clean_text(cls, data: Any) -> Any:
        found = _bad_text(data, "")
        if found is not None:
            raise ValueError(f"{found or 'a field name'} holds a NUL or an unpaired surrogate character: send "
                             "plain UTF-8 text")
        return data


def _plain(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors without the echoed input (it may hold anything) and with printable locations."""
    return [{"loc": [str(x) if not isinstance(x, int) else x for x in e.get("loc", ())],
             "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in errors]


def install_error_handlers(app: FastAPI) -> None:
    """Every error answers :class:`ErrorOut`; a GreenciError keeps its message and fields."""

    @app.exception_handler(GreenciError)
    async def _greenci(_request: Request, exc: GreenciError) -> JSONResponse:
        status = 503 if isinstance(exc, SourceError) else 422 if exc.exit_code == 2 else 409
        return AsciiJSONResponse({"error": str(exc), "fields": list(exc.fields)}, status_code=status)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        return AsciiJSONResponse({"error": str(exc.detail), "fields": [], "detail": exc.detail},
                                 status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _plain(list(exc.errors()))
        fields = [".".join(str(x) for x in e["loc"][1:]) or str(e["loc"][0]) for e in errors]
        first = errors[0] if errors else {"loc": [], "msg": "not valid"}
        where = ".".join(str(x) for x in first["loc"][1:]) or "the request"
        return AsciiJSONResponse({"error": f"{where}: {first['msg']}", "fields": fields, "detail": errors},
                                 status_code=422)
