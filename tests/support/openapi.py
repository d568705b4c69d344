"""Reading the served OpenAPI document in tests: one operation's statuses, the JSON Schema
of one documented response, the `paths` key a concrete URL falls under."""

from __future__ import annotations

import copy
import re

BASE_PATH = "/v1/chats"
JSON = "application/json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _resolve(spec: dict, obj: dict) -> dict:
    """Follows local `$ref`s (e.g. a response object kept in components)."""
    seen = 0
    while isinstance(obj, dict) and "$ref" in obj and len(obj) == 1:
        ref = obj["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, got {ref!r}")
        obj = spec
        for part in ref[2:].split("/"):
            obj = obj[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
        if seen > 20:
            raise ValueError(f"$ref loop at {ref!r}")
    return obj


def operation(spec: dict, path_template: str, method: str) -> dict | None:
    if path_template.startswith(BASE_PATH + "/"):
        path_template = path_template[len(BASE_PATH):]
    item = spec.get("paths", {}).get(path_template)
    if item is None:
        return None
    return _resolve(spec, item).get(method.lower())


def documented_statuses(spec: dict, path_template: str, method: str) -> set[str]:
    """The response keys (e.g. {"200", "404", "default"}) of one operation; empty if the
    operation is not documented."""
    op = operation(spec, path_template, method)
    return set(op.get("responses", {})) if op else set()


def response_schema(spec: dict, path_template: str, method: str, status: int | str,
                    media_type: str | None = None) -> dict | None:
    """The JSON Schema of one documented response, or None.

    `path_template` is a key of `paths` ("/users/{id}/rooms"); the "/v1/chats" prefix is
    accepted too. The status is looked up exactly, then as a range ("4XX"); `default` is
    never used, so an undocumented status gives None. None also means the response has no
    body (204) or no content of `media_type` (default: application/json, or the only
    media type there is). Use `documented_statuses()` to tell these apart.

    The result is a copy of the schema with "$schema" (JSON Schema 2020-12) and the
    spec's "components" embedded, so its "#/components/schemas/..." refs resolve both
    against the spec and against the returned schema itself:
    `jsonschema.validate(body, response_schema(spec, "/users/me", "get", 200))` works.
    """
    op = operation(spec, path_template, method)
    if op is None:
        return None
    responses = op.get("responses", {})
    status = str(status)
    response = responses.get(status) or responses.get(status[:1] + "XX")
    if response is None:
        return None
    response = _resolve(spec, response)
    content = response.get("content") or {}
    if media_type is None:
        if JSON in content:
            media_type = JSON
        elif len(content) == 1:
            media_type = next(iter(content))
        else:
            return None
    media = content.get(media_type)
    if media is None or "schema" not in media:
        return None
    schema = copy.deepcopy(media["schema"])
    if not isinstance(schema, dict):  # a boolean schema
        schema = {} if schema else {"not": {}}
    schema.setdefault("$schema", JSON_SCHEMA_DIALECT)
    schema["components"] = copy.deepcopy(spec.get("components", {}))
    return schema


def find_path_template(spec: dict, url_path: str) -> str | None:
    """The `paths` key a concrete request path falls under, e.g.
    "/v1/chats/rooms/3f.../messages?limit=5" -> "/rooms/{id}/messages". Literal segments
    win over templated ones ("/users/me" over "/users/{id}"), as in OpenAPI."""
    path = url_path.split("?", 1)[0].split("#", 1)[0]
    if path.startswith(BASE_PATH + "/") or path == BASE_PATH:
        path = path[len(BASE_PATH):] or "/"
    parts = path.rstrip("/").split("/") if path != "/" else [""]
    best, best_score = None, -1
    for template in spec.get("paths", {}):
        tparts = template.rstrip("/").split("/") if template != "/" else [""]
        if len(tparts) != len(parts):
            continue
        score = 0
        for tpart, part in zip(tparts, parts):
            if re.fullmatch(r"\{[^/{}]+\}", tpart):
                if not part:
                    break
            elif tpart == part:
                score += 1
            else:
                break
        else:
            if score > best_score:
                best, best_score = template, score
    return best
