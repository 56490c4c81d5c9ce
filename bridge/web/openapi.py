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

ALERT = {
    "type": "object",
    "required": ["status", "labels", "startsAt"],
    "properties": {
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        "labels": {**LABELS, "minProperties": 1},
        "annotations": LABELS,
        "startsAt": {"type": "string", "format": "date-time"},
        "endsAt": {"type": "string"},
        "generatorURL": {"type": "string"},
        "fingerprint": {"type": "string", "maxLength": 128},
    },
}

WEBHOOK = {
    "type": "object",
    "required": ["version", "alerts"],
    "properties": {
        "version": {"type": "string", "enum": ["4"]},
        "groupKey": {"type": "string"},
        "truncatedAlerts": {"type": "integer", "minimum": 0},
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        "receiver": {"type": "string"},
        "groupLabels": LABELS,
        "commonLabels": LABELS,
        "commonAnnotations": LABELS,
        "externalURL": {"type": "string"},
        "alerts": {"type": "array", "items": ALERT},
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
                                )
                            },
                        },
                        "Stored (committed) with counts",
                    ),
                    "400": _error("Malformed payload; `detail.field` names the field"),
                    "401": _error("Missing or wrong bearer token"),
                    "413": _error("Body over the configured cap"),
                    "415": _error("Content-Type is not application/json"),
                    "503": _error("Database unavailable; Alertmanager retries"),
                },
            }
        },
        "/alerts": {
            "get": {
                "summary": "Each alert the bridge knows, with its deliveries and attempts",
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
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document")},
            }
        },
    },
}


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(SPEC)
