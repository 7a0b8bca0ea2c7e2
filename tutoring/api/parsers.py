"""The API's JSON parser: a body nested too deeply for the decoder is a 400 like any other bad JSON."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json.loads recurses once per nesting level; "[[[[…" 100,000 deep exhausts the stack.
            raise ParseError("JSON parse error - nested too deeply.") from None
