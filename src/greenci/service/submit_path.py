"""``POST /v1/jobs`` without the framework's per-request machinery, when the request is well formed.

Why: a decision is a fraction of a millisecond of work, and FastAPI's generic path around it (the router,
the dependency solver, reading and validating the body through a ``TypeAdapter``, the response's
serialisation and two exception wrappers) cost about as much again. At a thousand decisions a second on
two cores that was the difference between keeping up and queueing. This ASGI middleware answers the
busiest route itself: it reads the body, validates it with the route's own model (``JobIn``, in JSON
mode) and calls the same handler the FastAPI route calls, with the same errors rendered by the app's own
exception handlers.

Anything unusual goes the ordinary way: a body that is not a valid ``JobIn`` (or is not JSON, or comes
with another content type) is handed to the FastAPI route unchanged, which answers it exactly as before
(its 422 names the field). So the documented behaviour has one source, and the fast path only ever takes
requests the route would have accepted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["SubmitFastPath"]

Scope = dict[str, Any]
Message = dict[str, Any]
#: ``handle(body, headers) -> response``: the route's handler (headers: lower-case name -> value)
Handler = Callable[[Any, dict[str, str]], Awaitable[Response]]
_JSON_TYPES = (b"application/json",)


class SubmitFastPath:
    """ASGI middleware answering ``method path`` with ``handle`` when the body validates as ``model``.

    ``handlers`` maps exception types to the app's exception handlers (``app.exception_handlers``: read at
    each call, so handlers installed after this middleware count).
    """

    def __init__(self, app: Any, *, method: str, path: str, model: type[BaseModel], handle: Handler,
                 handlers: dict[Any, Callable[..., Any]]) -> None:
        self.app, self.method, self.path = app, method, path
        self.model, self.handle, self.handlers = model, handle, handlers

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["method"] != self.method or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        item = self._valid(body, headers.get("content-type"))
        if item is None:  # the route answers it, from the same bytes (a 422 naming the field, or a 400)
            await self.app(scope, _replay(body, receive), send)
            return
        try:
            response = await self.handle(item, headers)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(Request(scope, _replay(body, receive)), exc)
        await response(scope, receive, send)

    def _valid(self, body: bytes, content_type: str | None) -> BaseModel | None:
        """The body as the route's model, or None when the route should judge it."""
        if content_type is not None and content_type.split(";", 1)[0].strip().lower().encode() not in _JSON_TYPES:
            return None
        if not body:
            return None
        try:
            return self.model.model_validate_json(body)
        except ValidationError:
            return None

    def _handler_for(self, exc: Exception) -> Callable[..., Any] | None:
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None


def _replay(body: bytes, receive: Callable[[], Awaitable[Message]]) -> Callable[[], Awaitable[Message]]:
    """A ``receive`` that gives the ``body`` already read, then the connection's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
