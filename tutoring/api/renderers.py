from rest_framework.renderers import JSONRenderer


class EnvelopeJSONRenderer(JSONRenderer):
    """Every 2xx body is `{"data": ...}` (docs/api.md "Conventions"); error bodies are rendered as they are."""

    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if data is not None and response is not None and response.status_code < 400:
            data = {"data": data}
        return super().render(data, accepted_media_type, renderer_context)
