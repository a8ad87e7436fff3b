"""Request bodies are bounded before any route parses them.

Everything the web page does runs on the daemon's one event loop, beside the
20 ms media clock: a body that is big or deeply nested must be refused before
it is parsed, not after (a 2.9 MB YAML document once froze the loop for 15 s).

``BodyLimits`` (pure ASGI middleware, inside ``AccessGuard``) finds the route a
request goes to and applies the route's limit, marked in its OpenAPI entry
with ``openapi_extra=body_limit(...)`` (``x-body-limit``, so clients see it too):

- ``json`` (every route not marked): ``http.max_body_bytes`` (64 KB). The body
  is read here, refused with 413 as soon as it passes the limit (a declared
  ``Content-Length`` above it is refused unread), and a JSON body nested more
  than ``http.max_json_depth`` levels (or with NaN/Infinity) is refused with
  422 -- FastAPI parses the rest on the loop, which for 64 KB takes well
  under a millisecond.
- ``document`` (mode documents): ``http.max_document_bytes`` (1 MB), read
  here the same way; the route parses it in the web layer's worker process
  (``web/documents.py``), where depth and size are bounded while parsing.
- ``stream`` (uploads of prompts and backups): passed through; the route reads
  the body in chunks and enforces its own, larger limit.

An anonymous request gets the ``json`` limit whatever the route (it is refused
with 401 anyway, after at most that much was read).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import fastapi.routing
import numpy as np
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zentrale.errors import Invalid
from zentrale.web.refusals import refusal_body

Kind = Literal["json", "document", "stream"]

# A JSON string (escapes included), written so the regex engine never backtracks: the
# strings are removed before the brackets are counted (a "[" inside a string is text).
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"')
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_NOT_NUMBERS = re.compile(rb"NaN|Infinity")


class TooLarge(Invalid):
    """A request body above the route's limit (HTTP 413)."""


@dataclass(frozen=True)
class HttpLimits:
    body_bytes: int = 65_536
    document_bytes: int = 1_000_000
    json_depth: int = 32


def body_limit(kind: Kind, **openapi_extra: Any) -> dict[str, Any]:
    """``openapi_extra`` of a route whose body is a mode ``document`` or a ``stream`` it limits itself."""
    return {"x-body-limit": kind, **openapi_extra}


def document_body(required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` of a route taking a mode document it reads itself (YAML or JSON)."""
    content = {
        "application/json": {"schema": {"type": "object", "description": "a mode document"}},
        "application/yaml": {"schema": {"type": "string", "description": "a mode document"}},
    }
    return body_limit("document", requestBody={"required": required, "content": content})


def route_marks(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The part of the OpenAPI spec ``marked_routes`` reads, from the routes themselves.

    FastAPI's full spec (``api.openapi()``) builds a JSON schema of every model: about
    0.3-0.5 s of the start's CPU natively (image-build/PROOF.md), for one key per route.
    Only the routes the spec shows (``include_in_schema``) count, as in the spec."""
    paths: dict[str, dict[str, Any]] = {}
    for route in _api_routes(routes):
        if route.include_in_schema:
            for method in route.methods:
                paths.setdefault(route.path_format, {})[method.lower()] = route.openapi_extra or {}
    return {"paths": paths}


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    # FastAPI 0.16x keeps an included router as one entry and walks it with
    # iter_route_contexts (as its spec does); older ones copied its routes into the app's
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:
        yield from (route for route in routes if isinstance(route, APIRoute))
        return
    for context in contexts(routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def marked_routes(spec: dict[str, Any]) -> list[tuple[str, re.Pattern[str], Kind]]:
    """(method, path pattern, kind) of the routes marked with ``body_limit`` in the OpenAPI spec."""
    marked = []
    for path, operations in spec.get("paths", {}).items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for method, operation in operations.items():
            if isinstance(operation, dict) and operation.get("x-body-limit"):
                marked.append((method.upper(), pattern, operation["x-body-limit"]))
    return marked


def json_problem(body: bytes, max_depth: int) -> str | None:
    """What makes a JSON text unfit to parse, found without parsing it: nesting deeper than
    ``max_depth``, or NaN/Infinity (not JSON, RFC 8259 §6, but Python's parser takes them and
    nothing can send them back)."""
    text = _JSON_STRING.sub(b"", body).split(b'"', 1)[0]  # a quote left opens a string that never ends
    depth = _depth(text)
    if depth > max_depth:
        return f"the JSON is nested {depth} levels deep, at most {max_depth} are allowed"
    if _NOT_NUMBERS.search(text):
        return "NaN and Infinity are not numbers JSON can carry (RFC 8259 §6)"
    return None


def json_depth(body: bytes) -> int:
    """How deeply the JSON text nests objects and arrays (counted without parsing it)."""
    return _depth(_JSON_STRING.sub(b"", body).split(b'"', 1)[0])


def _depth(text: bytes) -> int:
    brackets = text.translate(None, delete=_NOT_BRACKETS)
    if not brackets:
        return 0
    marks = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((marks == ord("[")) | (marks == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def size_text(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:g} MB"
    return f"{round(size / 1024)} KB"


class BodyLimits:
    def __init__(self, app: ASGIApp, marked: list[tuple[str, re.Pattern[str], Kind]], limits: HttpLimits) -> None:
        self.app = app
        self.marked = marked
        self.limits = limits

    def _kind(self, scope: Scope) -> Kind:
        method, path = scope["method"], scope["path"]
        return next((kind for m, pattern, kind in self.marked if m == method and pattern.match(path)), "json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = self._kind(scope)
        anonymous = scope.get("state", {}).get("principal") is None
        if kind == "stream" and not anonymous:
            await self.app(scope, receive, send)
            return
        limit = self.limits.document_bytes if kind == "document" and not anonymous else self.limits.body_bytes
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await send_error(send, 413, f"the request body is larger than {size_text(limit)}, the limit here")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await send_error(send, 413, f"the request body is larger than {size_text(limit)}, the limit here")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if kind == "json" and body.lstrip()[:1] in (b"{", b"["):
            problem = json_problem(body, self.limits.json_depth)
            if problem is not None:
                await send_error(send, 422, problem)
                return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read above, then the client's own messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def send_error(send: Send, status: int, error: str) -> None:
    body = json.dumps(refusal_body(error)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
