"""`GET /openapi.json`: the HTTP contract, kept beside the code it documents."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from bridge import __version__

blueprint = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ERROR, description)


LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
# Go encodes a nil map as null; the bridge accepts that for the optional maps.
OPTIONAL_LABELS = {**LABELS, "nullable": True}

ALERT = {
    "type": "object",
    "required": ["status", "labels", "startsAt"],
    "properties": {
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        "labels": {**LABELS, "minProperties": 1},
        "annotations": OPTIONAL_LABELS,
        "startsAt": {"type": "string", "format": "date-time"},
        "endsAt": {"type": "string", "format": "date-time"},
        "generatorURL": {"type": "string", "maxLength": 8192},
        "fingerprint": {"type": "string", "maxLength": 128},
    },
}

WEBHOOK = {
    "type": "object",
    "required": ["version", "alerts"],
    "properties": {
        "version": {"type": "string", "enum": ["4"]},
        "groupKey": {"type": "string", "maxLength": 16384},
        "truncatedAlerts": {"type": "integer", "minimum": 0},
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        "receiver": {"type": "string", "maxLength": 1024},
        "groupLabels": OPTIONAL_LABELS,
        "commonLabels": OPTIONAL_LABELS,
        "commonAnnotations": OPTIONAL_LABELS,
        "externalURL": {"type": "string", "maxLength": 8192},
        "alerts": {"type": "array", "items": ALERT},
    },
}

MATCHER = {
    "type": "object",
    "required": ["name", "value"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$", "maxLength": 128},
        "value": {"type": "string", "maxLength": 1024},
        "isRegex": {"type": "boolean", "default": False},
        "isEqual": {"type": "boolean", "default": True},
    },
}

WINDOW_REQUEST = {
    "type": "object",
    "required": ["createdBy", "comment"],
    "description": "Give `matchers` and/or the `node` shortcut; `endsAt` or `duration` "
    "(one-off) or `recurrence` (recurring).",
    "properties": {
        "matchers": {"type": "array", "items": MATCHER, "maxItems": 32},
        "node": {"type": "string", "minLength": 1, "maxLength": 1024},
        "startsAt": {"type": "string", "format": "date-time"},
        "endsAt": {"type": "string", "format": "date-time"},
        "duration": {"type": "string", "example": "2h"},
        "createdBy": {"type": "string", "minLength": 1, "maxLength": 255},
        "comment": {"type": "string", "minLength": 1, "maxLength": 2000},
        "recurrence": {
            "type": "object",
            "required": ["cron", "duration"],
            "properties": {
                "cron": {"type": "string", "example": "0 2 * * SUN"},
                "duration": {"type": "string", "example": "2h"},
                "timezone": {"type": "string", "example": "Europe/Berlin"},
            },
        },
    },
}

WINDOW = {
    "type": "object",
    "required": ["id", "matchers", "state", "sync"],
    "properties": {
        "id": {"type": "string"},
        "matchers": {"type": "array", "items": MATCHER},
        "startsAt": {"type": "string", "nullable": True},
        "endsAt": {"type": "string", "nullable": True},
        "createdBy": {"type": "string"},
        "comment": {"type": "string"},
        "createdAt": {"type": "string"},
        "expiredAt": {"type": "string", "nullable": True},
        "recurrence": {"type": "object", "nullable": True},
        "state": {"type": "string", "enum": ["pending", "active", "expired"]},
        "sync": {
            "type": "object",
            "properties": {
                "state": {
                    "type": "string",
                    "enum": ["invalid", "refused", "pending", "synced", "expiring", "expired"],
                },
                "errors": {"type": "array", "items": {"type": "string"}},
            },
        },
        "occurrences": {"type": "array", "items": {"type": "object"}},
    },
}

WINDOW_ID = {"name": "window_id", "in": "path", "required": True, "schema": {"type": "string"}}
# Reads of alert data: open, or with BRIDGE_CONSOLE_READ_AUTH=true the bearer token (or a
# console session cookie, which OpenAPI has no words for).
READ_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {}]
READ_REFUSED = (
    "A bearer token that is not BRIDGE_API_TOKEN (always), or BRIDGE_CONSOLE_READ_AUTH is on"
    " and neither the bearer token nor a session came"
)

SILENCES = {
    "/silences": {
        "get": {
            "summary": "List maintenance windows",
            "security": READ_SECURITY,
            "parameters": [
                {
                    "name": "state",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["pending", "active", "expired"]},
                },
                {"name": "node", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"silences": {"type": "array", "items": WINDOW}},
                    },
                    "Windows, newest first",
                ),
                "400": _error("Invalid filter"),
                "401": _error(READ_REFUSED),
            },
        },
        "post": {
            "summary": "Create a maintenance window (synced to Alertmanager)",
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": WINDOW_REQUEST}},
            },
            "responses": {
                "201": _json(WINDOW, "Created; `sync.state` says whether Alertmanager has it yet"),
                "400": _error("Invalid window; `detail.field` names the problem"),
                "401": _error("No bearer token"),
                "403": _error("Wrong token, or no BRIDGE_API_TOKEN configured"),
                "415": _error("Content-Type is not application/json"),
            },
        },
    },
    "/silences/{window_id}": {
        "get": {
            "summary": "One maintenance window",
            "security": READ_SECURITY,
            "parameters": [WINDOW_ID],
            "responses": {
                "200": _json(WINDOW, "The window"),
                "401": _error(READ_REFUSED),
                "404": _error("No such window"),
            },
        },
        "delete": {
            "summary": "Expire a window now (and its Alertmanager silences)",
            "security": [{"bearer": []}],
            "parameters": [WINDOW_ID],
            "responses": {
                "200": _json(WINDOW, "Expired"),
                "401": _error("No bearer token"),
                "403": _error("Wrong token, or no BRIDGE_API_TOKEN configured"),
                "404": _error("No such window"),
            },
        },
    },
}

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "DGX Spark alert bridge",
        "version": __version__,
        "description": "Alertmanager webhook receiver: durable dedup, PagerDuty and Slack.",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}, "detail": {}},
            },
            "WebhookPayload": WEBHOOK,
        },
    },
    "paths": {
        "/webhook/alertmanager": {
            "post": {
                "summary": "Receive an Alertmanager webhook (payload version 4)",
                "security": [{"bearer": []}, {}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/WebhookPayload"}
                        }
                    },
                },
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                k: {"type": "integer"}
                                for k in (
                                    "received",
                                    "new",
                                    "duplicates",
                                    "resolved",
                                    "notifications",
                                    "suppressed",
                                    "folded",
                                )
                            },
                        },
                        "Stored (committed) with counts",
                    ),
                    "400": _error("Malformed payload; `detail.field` names the field"),
                    "401": _error("Missing or wrong bearer token"),
                    "413": _error("Body over the configured cap"),
                    "415": _error("Content-Type is not application/json"),
                    "503": _error(
                        "Database unavailable, or a concurrent update won; Alertmanager retries"
                    ),
                },
            }
        },
        "/slack/interactions": {
            "post": {
                "summary": "Slack's interactivity request URL: a button click or menu choice",
                "description": "Signed by Slack (X-Slack-Signature, X-Slack-Request-Timestamp "
                "within 5 minutes). Acknowledge and Silence act once however often Slack "
                "retries; the message is updated through the outbox.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["payload"],
                                "properties": {"payload": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "Accepted (acted, or nothing left to do)"},
                    "400": _error("Not form-encoded, no payload, malformed, unknown action/alert"),
                    "401": _error("Bad, missing or old signature"),
                    "404": _error("Interactivity off: BRIDGE_SLACK_SIGNING_SECRET unset"),
                    "413": _error("Body over the cap"),
                    "503": _error("Database unavailable; nothing was done"),
                },
            }
        },
        "/pagerduty/webhook": {
            "post": {
                "summary": "PagerDuty webhooks v3: incident events of incidents the bridge opened",
                "description": "Signed by PagerDuty (X-PagerDuty-Signature: v1=...). "
                "Idempotent by event id; older events never move the shown state back.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": {"description": "Accepted (applied, duplicate, or ignored)"},
                    "400": _error("Well signed but not a v3 event"),
                    "401": _error("No signature matches"),
                    "404": _error("Webhooks off: BRIDGE_PAGERDUTY_WEBHOOK_SECRET unset"),
                    "413": _error("Body over the cap"),
                    "503": _error("Database unavailable; PagerDuty retries"),
                },
            }
        },
        "/alerts": {
            "get": {
                "summary": "Each alert the bridge knows, with its deliveries and attempts",
                "security": READ_SECURITY,
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["firing", "resolved"]},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "description": "Skip this many alerts (paging, newest change first)",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 999999999},
                    },
                    {
                        "name": "storm",
                        "in": "query",
                        "description": "Only the alerts folded into this storm incident",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 999999999},
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "alerts": {"type": "array", "items": {"type": "object"}},
                                "outbox": {"type": "object"},
                            },
                        },
                        "Alerts, newest change first",
                    ),
                    "400": _error("Invalid filter"),
                    "401": _error(READ_REFUSED),
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "responses": {"200": _json({"type": "object"}, "The process answers")},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: database reachable and schema at head",
                "responses": {
                    "200": _json({"type": "object"}, "Ready"),
                    "503": _error("Not ready"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "Text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/charts/{delivery_id}.png": {
            "get": {
                "summary": "The chart of a notification (PagerDuty image), at a stable URL",
                "description": (
                    "The alert's metric over the hour before enrichment, threshold drawn in, "
                    "as stored with the delivery. No token: PagerDuty fetches it itself; the "
                    "per-delivery key in the URL keeps charts from being enumerated."
                ),
                "parameters": [
                    {
                        "name": "delivery_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    },
                    {
                        "name": "key",
                        "in": "query",
                        "description": "The chart key stored with the delivery's context",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "PNG image",
                        "content": {
                            "image/png": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "404": _error("No such delivery, no chart, or wrong key"),
                    "503": _error("Chart data unavailable (Prometheus failed, or enrichment off)"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document")},
            }
        },
        **SILENCES,
    },
}


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(SPEC)
