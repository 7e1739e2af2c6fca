"""Schemathesis hooks for scripts/contract.sh: NDJSON responses, line by line.

Runs, load tests and job events answer `application/x-ndjson`: one JSON
object per line. The OpenAPI document gives, for such a response, the schema
of each line (OpenAPI 3.1 has no `itemSchema`). Schemathesis has no
deserializer for the media type, so without this it validates none of them.
This one checks every line against the document's line schema (with the
document's components, so `$ref`s resolve), fails on the first line that is
not JSON or does not conform, naming its number, and hands Schemathesis the
last line to validate as it does a JSON body.
"""

import json

import jsonschema
import schemathesis

_VALIDATORS = {}


def _validator(ctx, status):
    key = (ctx.operation.method.lower(), ctx.operation.path, status)
    if key not in _VALIDATORS:
        doc = ctx.operation.schema.raw_schema
        responses = doc["paths"][ctx.operation.path][ctx.operation.method.lower()]["responses"]
        answer = responses.get(str(status), {})
        if "$ref" in answer:  # a shared response under components/responses
            answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
        line_schema = answer.get("content", {}).get("application/x-ndjson", {}).get("schema")
        _VALIDATORS[key] = (
            None
            if line_schema is None
            else jsonschema.Draft202012Validator({**line_schema, "components": doc["components"]})
        )
    return _VALIDATORS[key]


@schemathesis.deserializer("application/x-ndjson")
def ndjson_lines(ctx, response):
    lines = [line for line in response.content.decode("utf-8").split("\n") if line.strip()]
    if not lines:
        # A job's events resumed at or past its last seq, once it has ended,
        # are rightly empty: nothing to validate (Schemathesis skips what a
        # deserializer does not handle). A run or a load test always ends
        # with its summary, so an empty one fails.
        if ctx.operation.path.endswith("/events"):
            raise NotImplementedError("an empty job event stream has no lines to check")
        raise ValueError("an empty NDJSON stream: a run or a load test always ends with its summary line")
    validator = _validator(ctx, response.status_code)
    last = None
    for number, line in enumerate(lines, 1):
        try:
            last = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"NDJSON line {number} is not JSON: {exc}: {line[:200]!r}") from exc
        if validator is not None:
            error = jsonschema.exceptions.best_match(validator.iter_errors(last))
            if error is not None:
                raise ValueError(f"NDJSON line {number} does not match the line schema: {error.message}: {line[:300]!r}")
    return last
