"""Every route of the JSON API is an action of a DRF viewset (docs/api.md), so every resource has one
place for its permissions, limits and schema. Provider webhooks (signed, not signed in) and the API's
own documentation are the exceptions."""

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.viewsets import ViewSetMixin

from tutoring.api.viewsets import ApiViewSet

NOT_RESOURCES = ("api/webhooks/", "api/schema/", "api/docs/")


def routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def test_every_api_route_is_served_by_a_viewset():
    api = [(route, view) for route, view in routes(get_resolver().url_patterns) if route.startswith("api/")]
    assert len(api) > 20
    for route, view in api:
        if route.startswith(NOT_RESOURCES):
            continue
        cls = getattr(view, "cls", None)
        assert cls is not None and issubclass(cls, ViewSetMixin), f"{route} is not served by a viewset"
        assert issubclass(cls, ApiViewSet), f"{route}: {cls.__name__} does not extend ApiViewSet"
        assert view.actions, f"{route} maps no HTTP method to an action"
