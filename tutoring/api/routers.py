"""The API's router: every resource of docs/api.md is a viewset registered here by its app's urls.py.

Paths have no trailing slash and ids are UUIDs (a path converter, so `withdrawals/stats` can never be
taken for an id). A viewset with `singleton = True` is the one object its user has at the prefix
itself (GET retrieves it, POST creates it) and has no `/<id>` route.
"""

from __future__ import annotations

from rest_framework.routers import Route, SimpleRouter


class ApiRouter(SimpleRouter):
    def __init__(self) -> None:
        super().__init__(trailing_slash=False, use_regex_path=False)

    def get_routes(self, viewset) -> list:
        routes = super().get_routes(viewset)
        if not getattr(viewset, "singleton", False):
            return routes
        singleton = []
        for route in routes:
            if isinstance(route, Route) and route.detail:
                continue
            if route.name == "{basename}-list":
                route = route._replace(mapping={"get": "retrieve", "post": "create"}, initkwargs={})
            singleton.append(route)
        return singleton
