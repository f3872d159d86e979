"""Routes: one server, a handler per path template.

::

    router = ws.Router()

    @router.route("/room/{name}")
    async def room(request: ws.WebSocketRequest, name: str) -> None:
        connection = await request.accept()
        ...

    @router.route("/item/{id:int}")
    async def item(request: ws.WebSocketRequest, id: int) -> None:
        ...

    await ws.serve_websocket(router, "127.0.0.1", 8000, None)

A :class:`Router` is a handler: pass it where a handler goes. The server
asks it before the upgrade, so a path that matches no route gets a plain
HTTP 404 and no handler runs. It runs after ``process_request`` hooks and
the ``origins`` check, so a health check answered by a hook needs no route.

Templates are paths whose ``{name}`` or ``{name:kind}`` segments capture
parameters, passed to the handler as keyword arguments:

============  ===============================  ================
kind          matches                          handler gets
============  ===============================  ================
``str``       one path segment (the default)   ``str``, decoded
``int``       an optional ``-`` and digits     ``int``
``float``     a decimal number                 ``float``
``uuid``      a UUID in its 8-4-4-4-12 form    ``uuid.UUID``
``path``      the rest of the path, ``/`` too  ``str``, decoded
============  ===============================  ================

Routes are tried in the order they were added; the first match wins.
Matching is on the path without its query string; percent-escapes are
decoded in the captured values, not before matching (so ``%2F`` in a
``str`` parameter stays inside it).
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Concatenate, Final, TypeAlias

import attrs

from ws.http import HTTPRequest, HTTPResponse

if TYPE_CHECKING:
    from ws.server import WebSocketRequest

__all__ = ["Route", "RouteHandler", "Router"]

#: A route's handler: ``async def handler(request, **parameters)``.
# The parameters vary by template, so the rest of the signature cannot be spelled.
RouteHandler: TypeAlias = Callable[Concatenate["WebSocketRequest", ...], Awaitable[object]]  # type: ignore[explicit-any]

_Convert = Callable[[str], object]


def _unquote(value: str) -> str:
    return urllib.parse.unquote(value, errors="strict")


_KINDS: Final[dict[str, tuple[str, _Convert]]] = {
    "str": (r"[^/]+", _unquote),
    "int": (r"-?[0-9]+", int),
    "float": (r"-?[0-9]+(?:\.[0-9]+)?", float),
    "uuid": (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", uuid.UUID),
    "path": (r".+", _unquote),
}
_PARAMETER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@attrs.frozen
class Route:
    """One path template and its handler (see :meth:`Router.route`).

    Attributes:
        template: The template, as given.
        handler: The handler it runs.
    """

    template: str
    handler: RouteHandler
    _pattern: re.Pattern[str] = attrs.field(repr=False)
    _converters: tuple[tuple[str, _Convert], ...] = attrs.field(repr=False)

    @classmethod
    def compile(cls, template: str, handler: RouteHandler) -> Route:
        """Parse ``template``.

        Raises:
            ValueError: The template does not start with ``/``, has an
                unknown kind, a parameter name that is not an identifier,
                a name used twice, or stray braces.
        """
        if not template.startswith("/"):
            raise ValueError(f"a route template starts with '/': {template!r}")
        pattern = []
        converters: list[tuple[str, _Convert]] = []
        position = 0
        for match in _PARAMETER.finditer(template):
            literal = template[position : match.start()]
            if "{" in literal or "}" in literal:
                raise ValueError(f"stray brace in route template {template!r}")
            pattern.append(re.escape(literal))
            name, _, kind = match.group(1).partition(":")
            kind = kind or "str"
            if not _NAME.match(name):
                raise ValueError(f"route parameter {name!r} in {template!r} is not an identifier")
            if kind not in _KINDS:
                known = ", ".join(_KINDS)
                raise ValueError(f"unknown parameter kind {kind!r} in {template!r} (known: {known})")
            if any(name == seen for seen, _ in converters):
                raise ValueError(f"route parameter {name!r} appears twice in {template!r}")
            regex, convert = _KINDS[kind]
            pattern.append(f"(?P<{name}>{regex})")
            converters.append((name, convert))
            position = match.end()
        rest = template[position:]
        if "{" in rest or "}" in rest:
            raise ValueError(f"stray brace in route template {template!r}")
        pattern.append(re.escape(rest))
        return cls(template, handler, re.compile("".join(pattern) + r"\Z"), tuple(converters))

    def match(self, path: str) -> dict[str, object] | None:
        """The parameters if ``path`` (without query) matches, else ``None``."""
        found = self._pattern.match(path)
        if found is None:
            return None
        try:
            return {name: convert(found.group(name)) for name, convert in self._converters}
        except ValueError:  # e.g. invalid percent-escapes
            return None


def _path_of(resource: str) -> str:
    return resource.partition("?")[0]


@attrs.define(eq=False)
class Router:
    """Handlers by path template; a server handler itself.

    Raises:
        ValueError: From :meth:`route` and :meth:`add`, for a bad template.
    """

    _routes: list[Route] = attrs.field(factory=list, init=False)

    @property
    def routes(self) -> tuple[Route, ...]:
        """The routes, in the order they are tried."""
        return tuple(self._routes)

    def add(self, template: str, handler: RouteHandler) -> None:
        """Route requests whose path matches ``template`` to ``handler``."""
        self._routes.append(Route.compile(template, handler))

    def route(self, template: str) -> Callable[[RouteHandler], RouteHandler]:
        """A decorator: ``@router.route("/room/{name}")`` adds the function below it."""

        def decorate(handler: RouteHandler) -> RouteHandler:
            self.add(template, handler)
            return handler

        return decorate

    def match(self, path: str) -> tuple[Route, dict[str, object]] | None:
        """The first route ``path`` matches and its parameters, or ``None``.

        Args:
            path: A path, with or without its query string.
        """
        path = _path_of(path)
        for route in self._routes:
            parameters = route.match(path)
            if parameters is not None:
                return route, parameters
        return None

    async def process_request(self, request: HTTPRequest) -> HTTPResponse | None:
        """A ``process_request`` hook: 404 for a path no route matches.

        The server calls it for a Router handler by itself, after the
        other hooks; call it yourself only with a Router you do not pass
        as the handler.
        """
        if self.match(request.path) is None:
            return HTTPResponse.plain(404)
        return None

    async def __call__(self, request: WebSocketRequest) -> None:
        """Run the handler of the route ``request.path`` matches.

        A request that no route matches here (possible only when the
        Router is not the server's handler) is rejected with 404.
        """
        found = self.match(request.path)
        if found is None:
            await request.reject(404, body=b"404 Not Found\n")
            return
        route, parameters = found
        await route.handler(request, **parameters)
