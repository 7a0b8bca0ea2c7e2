from rest_framework.serializers import Serializer


def validated(serializer_class: type[Serializer], request, **kwargs) -> dict:
    """The request body checked by `serializer_class`; a failure raises the 400 error body with `errors`."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def validated_query(serializer_class: type[Serializer], request) -> dict:
    """The query string checked by `serializer_class` (each parameter's last value), like `validated`."""
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
