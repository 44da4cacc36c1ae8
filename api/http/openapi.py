"""What the OpenAPI document says that the handlers' signatures cannot: bodies, ids, errors.

The handlers read their JSON bodies themselves (`api.http.deps.json_body`: size- and
depth-bounded, NUL refused with 422, the use case judging each field with its own error code),
so Litestar sees no `data` parameter and would document no request body. Switching to typed
`data:` parameters would change which requests are refused and how; instead each handler names
the shape of its body here (:func:`with_body`), and the schema describes it exactly as the use
case reads it. Nothing here changes what is accepted or returned.

* :func:`with_body` — an `operation_class` that documents a JSON request body from a struct.
* :data:`ERROR_RESPONSES` — `400` and `422` with the error object every error uses
  (`{"status_code", "detail"}`), declared once on the app for every operation.
* :data:`RoomId`, :data:`MessageId`, :data:`FileId` — UUID path parameters documented as such
  (the route still takes any string: a malformed id is answered as before).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, HttpMethod, Response, route
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody
from litestar.params import Parameter

Role = Literal["OWNER", "EDITOR", "VIEWER"]
Level = Literal["all", "mentions", "none"]


class ErrorBody(msgspec.Struct):
    """Every error answer: the HTTP status again and a human-readable reason."""

    status_code: int
    detail: str


ERROR_RESPONSES: dict[int, ResponseSpec] = {
    400: ResponseSpec(
        data_container=ErrorBody,
        generate_examples=False,
        description="Malformed request: a body that is not a JSON object, a query parameter of the wrong type",
    ),
    422: ResponseSpec(
        data_container=ErrorBody,
        generate_examples=False,
        description="A field is missing, of the wrong type or out of range (the detail names it)",
    ),
}

# `schema_extra` only: a `format` that Litestar validated would answer a malformed id differently.
RoomId = Annotated[str, Parameter(description="A room id (UUID)", schema_extra={"format": "uuid"})]
MessageId = Annotated[str, Parameter(description="A message id (UUID)", schema_extra={"format": "uuid"})]
FileId = Annotated[str, Parameter(description="A file id (UUID)", schema_extra={"format": "uuid"})]
WebhookId = Annotated[str, Parameter(description="A webhook id (UUID)", schema_extra={"format": "uuid"})]
HookSecret = Annotated[str, Parameter(description="The webhook's secret, as shown once when it was created")]
MemberId = Annotated[
    str, Parameter(description="The member's user id (an e-mail address)", schema_extra={"format": "email"})
]


# --- request bodies, as the use cases read them -----------------------------------------------


class LoginBody(msgspec.Struct):
    email: str
    password: str


class CreateRoomBody(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    description: str | None = None


class UpdateRoomBody(msgspec.Struct, forbid_unknown_fields=True):
    """Any of the fields; a status change posts a `room_status_changed` system message."""

    title: str | None = None
    description: str | None = None
    status: Literal["active", "resolved", "archived"] | None = None


class AddMemberBody(msgspec.Struct):
    user_id: Annotated[str, msgspec.Meta(description="The user's e-mail address")]
    role: Role = "EDITOR"


class ChangeRoleBody(msgspec.Struct):
    role: Role


class ReadMarkerBody(msgspec.Struct):
    sequence_number: Annotated[int, msgspec.Meta(ge=0)]


class CreateWebhookBody(msgspec.Struct, forbid_unknown_fields=True):
    """`room_per_alert` opens a room per alert group; `resolve_room` sets it `resolved` when the alert resolves."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="The bot's display name")]
    mode: Literal["post", "room_per_alert"] = "post"
    resolve_room: bool = False


class GenericAlertBody(msgspec.Struct, forbid_unknown_fields=True):
    """One of the accepted bodies (at least one field). Alertmanager's webhook payload (version 4)
    and Grafana's alerting webhook payload are accepted as their projects document them."""

    title: str | None = None
    text: str | None = None
    incident_data: dict[str, Any] | None = None
    severity: str | None = None


class PushKeys(msgspec.Struct):
    p256dh: str
    auth: str


class PushSubscriptionBody(msgspec.Struct):
    """A browser's `PushSubscription.toJSON()`."""

    endpoint: str
    keys: PushKeys


class PushUnsubscribeBody(msgspec.Struct):
    endpoint: str


class UrgentSettingsBody(msgspec.Struct, forbid_unknown_fields=True):
    """Any of the fields (docs/alerts.md); `null` turns escalation off / clears its target."""

    repeat_seconds: Annotated[int, msgspec.Meta(ge=1, le=86400)] | None = None
    max_repeats: Annotated[int, msgspec.Meta(ge=0)] | None = None
    escalate_after: Annotated[int, msgspec.Meta(ge=1)] | None = None
    escalate_to: Annotated[str, msgspec.Meta(description="A member's user id, or role:OWNER|EDITOR|VIEWER")] | None = None


class UrgentAlertsBody(msgspec.Struct):
    """The caller's opt-in to urgent messages of the room that mention nobody."""

    alerts: bool


class NotificationPrefsBody(msgspec.Struct):
    """A field left out keeps its value; `rooms`, when given, replaces every override."""

    push: Level | None = None
    rooms: dict[str, Level] | None = None


def allow(path: str, *methods: str) -> HTTPRouteHandler:
    """An explicit `OPTIONS` answer for a controller path served by several handlers.

    Litestar builds a path's automatic `OPTIONS` handler when the path's first handler is
    registered, and keeps it when more handlers join the path: its `Allow` then names only the
    first one's method. A path with its own `OPTIONS` handler gets no automatic one.
    (`tests/integration/http/test_openapi.py` checks every path's `Allow` against the schema.)
    """
    allowed = ", ".join(sorted({*methods, "OPTIONS"}))

    def options(self: Any) -> Response[None]:
        return Response(None, status_code=204, headers={"Allow": allowed})

    return route(
        path, http_method=[HttpMethod.OPTIONS], include_in_schema=False, sync_to_thread=False, status_code=204
    )(options)


def document_errors(handlers: Iterable[Any]) -> None:
    """Add :data:`ERROR_RESPONSES` to every HTTP handler's (and controller method's) documented
    responses, keeping any the handler declares itself. Idempotent (apps are built many times)."""
    for item in handlers:
        if isinstance(item, type) and issubclass(item, Controller):
            document_errors(v for v in vars(item).values() if isinstance(v, HTTPRouteHandler))
        elif isinstance(item, HTTPRouteHandler):
            item.responses = {**ERROR_RESPONSES, **(item.responses or {})}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """msgspec's JSON Schema with its `$ref`s into `$defs` replaced by the definitions."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


@cache
def body_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """The JSON Schema of a body struct, self-contained (no references)."""
    raw = msgspec.json.schema(struct)
    return dict(_inline(raw, raw.get("$defs", {})))


def with_body(struct: type[msgspec.Struct]) -> type[Operation]:
    """An `operation_class` documenting `struct` as the operation's required JSON body."""

    @dataclass
    class _WithBody(Operation):
        def __post_init__(self) -> None:
            if self.request_body is None:
                # A plain mapping is emitted as it is (Operation.to_schema walks dicts).
                schema: Any = body_schema(struct)
                self.request_body = RequestBody(
                    content={"application/json": OpenAPIMediaType(schema=schema)}, required=True
                )

    _WithBody.__name__ = f"With{struct.__name__}"
    return _WithBody
