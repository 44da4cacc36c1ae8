"""The OpenAPI document of a running server describes every operation: its request body, the
format of its id path parameters, its 400 and 422 answers; and every path's `Allow` header (on
OPTIONS and on a 405) names exactly the methods the document lists."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.servers import ServerProcess

METHODS = ("get", "post", "put", "patch", "delete")
# Operations that take no body (state-changing but parameterless).
NO_BODY = {
    ("post", "/api/auth/logout"),
    ("delete", "/api/rooms/{room_id}/members/{member_id}"),
    ("post", "/api/messages/{message_id}/acknowledge"),
    ("delete", "/api/rooms/{room_id}/webhooks/{webhook_id}"),
}
ID_FORMATS = {"room_id": "uuid", "message_id": "uuid", "file_id": "uuid", "member_id": "email", "webhook_id": "uuid"}
EXAMPLE_IDS = {
    "room_id": "00000000-0000-0000-0000-000000000001",
    "message_id": "00000000-0000-0000-0000-000000000002",
    "file_id": "00000000-0000-0000-0000-000000000003",
    "member_id": "someone@example.com",
    "webhook_id": "00000000-0000-0000-0000-000000000004",
    "secret": "not-a-secret",
}


@pytest.fixture(scope="module")
def schema(server: ServerProcess) -> dict[str, Any]:
    r = httpx.get(f"{server.base_url}/schema/openapi.json", timeout=10)
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def test_every_operation_with_a_body_documents_it(schema: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for method, path, op in _operations(schema)
        if method in ("post", "put", "patch", "delete")
        and (method, path) not in NO_BODY
        and not op.get("requestBody", {}).get("content")
    ]
    assert missing == []


def test_json_bodies_name_their_fields(schema: dict[str, Any]) -> None:
    body = schema["paths"]["/api/rooms/{room_id}/members"]["post"]["requestBody"]
    shape = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    assert set(shape["properties"]) == {"user_id", "role"} and shape["required"] == ["user_id"]
    assert shape["properties"]["role"]["enum"] == ["EDITOR", "OWNER", "VIEWER"]


def test_every_id_path_parameter_states_its_format(schema: dict[str, Any]) -> None:
    wrong = [
        (f"{method.upper()} {path}", p["name"], p.get("schema", {}).get("format"))
        for method, path, op in _operations(schema)
        for p in op.get("parameters", [])
        if p["in"] == "path" and p.get("schema", {}).get("format") != ID_FORMATS.get(p["name"])
    ]
    assert wrong == []


def test_every_operation_documents_400_and_422(schema: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for method, path, op in _operations(schema)
        if not {"400", "422"} <= set(op["responses"])
    ]
    assert missing == []
    error = schema["components"]["schemas"]["ErrorBody"]
    assert set(error["properties"]) == {"status_code", "detail"}


def test_allow_names_every_method_of_every_path(schema: dict[str, Any], server: ServerProcess) -> None:
    wrong = []
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        for path, item in schema["paths"].items():
            url = path
            for name, value in EXAMPLE_IDS.items():
                url = url.replace("{" + name + "}", value)
            documented = {m.upper() for m in item if m in METHODS} | {"OPTIONS"}
            options = http.request("OPTIONS", url)
            refused = http.request("TRACE", url)
            for answer in (options, refused):
                allowed = {m.strip() for m in answer.headers.get("allow", "").split(",") if m.strip()}
                if allowed != documented:
                    wrong.append((answer.request.method, path, sorted(allowed), sorted(documented)))
            assert refused.status_code == 405
    assert wrong == []
