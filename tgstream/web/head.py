"""HEAD wherever GET is.

RFC 9110 section 9.1 requires a general-purpose server to answer HEAD for every resource
it answers GET for, with the headers GET would send. Starlette's plain routes add HEAD by
themselves; FastAPI's do not, so a route declared with `app.get` alone answers HEAD 405.
The HTTP server drops the body of a HEAD response, so the GET endpoint serves both.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope


def answer_head_wherever_get(app: FastAPI) -> None:
    """Give every GET route of `app` that has no HEAD twin one, left out of the schema."""
    routes = [r for r in app.router.routes if isinstance(r, APIRoute)]
    with_head = {r.path for r in routes if "HEAD" in (r.methods or ())}
    for route in routes:
        if "GET" not in (route.methods or ()) or route.path in with_head:
            continue
        app.add_api_route(
            route.path,
            route.endpoint,
            methods=["HEAD"],
            name=f"{route.name}_head",
            response_model=route.response_model,
            status_code=route.status_code,
            response_class=route.response_class,
            dependencies=list(route.dependencies),
            include_in_schema=False,
        )
        with_head.add(route.path)


def allowed_methods(app: FastAPI, scope: Scope) -> set[str] | None:
    """Every method some route of `app` answers at the request's path, or None when a
    route there takes any method (it then says what it allows itself).

    Starlette's 405 names the methods of the first route that matched the path alone, so
    a path served by a GET route and its HEAD twin would be said to allow GET only; RFC
    9110 section 15.5.6 wants the resource's whole set in Allow.
    """
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match is Match.NONE:
            continue
        route_methods = getattr(route, "methods", None)
        if not route_methods:
            return None
        methods |= route_methods
    return methods
