"""``POST /v1/jobs``'s fast path: it answers only what the route would accept, and hands the rest over unchanged.

A well-formed body is validated with the route's model and answered by the route's own handler; a body that
is not (bad JSON, an unknown field, another content type, none at all) reaches the FastAPI route with the same
bytes, so its answer (a 422 naming the field) has one source. Errors of the handler are rendered by the app's
exception handlers, as the route's are.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from pydantic import BaseModel, ConfigDict  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402

from greenci.service.submit_path import SubmitFastPath  # noqa: E402


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    size: int = 1


def _call(app: Any, body: bytes, *, method: str = "POST", path: str = "/v1/jobs",
          headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, bytes]:
    scope = {"type": "http", "method": method, "path": path, "headers": headers or [
        (b"content-type", b"application/json"), (b"authorization", b"Bearer t")]}
    chunks = [body[:3], body[3:]]  # the body arrives in two messages

    async def receive() -> dict[str, Any]:
        if chunks:
            part = chunks.pop(0)
            return {"type": "http.request", "body": part, "more_body": bool(chunks)}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _app() -> tuple[SubmitFastPath, list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    async def route(scope: Any, receive: Any, send: Any) -> None:  # the FastAPI app behind it
        body, more = b"", True
        while more:
            m = await receive()
            body, more = body + m.get("body", b""), m.get("more_body", False)
        seen.append(("route", body))
        await JSONResponse({"route": True}, status_code=422)(scope, receive, send)

    async def handle(item: Item, headers: dict[str, str]) -> Response:
        seen.append(("fast", (item, headers.get("authorization"))))
        if item.name == "boom":
            raise HTTPException(409, detail="taken")
        return JSONResponse({"name": item.name, "size": item.size}, status_code=201)

    async def http_error(_request: Any, exc: HTTPException) -> Response:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    return SubmitFastPath(route, method="POST", path="/v1/jobs", model=Item, handle=handle,
                          handlers={HTTPException: http_error}), seen


def test_a_valid_body_is_answered_by_the_handler() -> None:
    app, seen = _app()
    status, body = _call(app, b'{"name": "build", "size": 3}')
    assert (status, json.loads(body)) == (201, {"name": "build", "size": 3})
    assert seen == [("fast", (Item(name="build", size=3), "Bearer t"))]


@pytest.mark.parametrize("body", [b'{"name": "build", "colour": 1}', b'{"name": 3}', b"{not json", b""])
def test_anything_the_model_refuses_reaches_the_route_with_the_same_bytes(body: bytes) -> None:
    app, seen = _app()
    assert _call(app, body)[0] == 422
    assert seen == [("route", body)]


def test_another_content_type_other_routes_and_methods_go_the_ordinary_way() -> None:
    app, seen = _app()
    assert _call(app, b'{"name": "x"}', headers=[(b"content-type", b"text/plain")])[0] == 422
    assert _call(app, b'{"name": "x"}', path="/v1/jobs/1")[0] == 422
    assert _call(app, b'{"name": "x"}', method="PUT")[0] == 422
    assert [kind for kind, _ in seen] == ["route"] * 3
    assert _call(app, b'{"name": "x"}', headers=[(b"content-type", b"application/json; charset=utf-8")])[0] == 201


def test_an_error_of_the_handler_is_rendered_by_the_apps_handler() -> None:
    app, _ = _app()
    status, body = _call(app, b'{"name": "boom"}')
    assert (status, json.loads(body)) == (409, {"error": "taken"})
