"""The simulator's JSON control API (faults in, targets out).

    GET    /healthz                 {"status": "ok"}
    GET    /nodes                   nodes, flavours, and where each exporter listens
    GET    /faults                  {"faults": [{"node", "fault", "since", ...}]}
    POST   /faults                  {"node": "dgx-spark-01", "fault": "overheat", "value": 90}
    DELETE /faults[?node=&fault=]   clear all, one node's, or one kind; {"cleared": n}
    GET    /targets[/<job>]         file_sd groups per job (JSON; ?format=yaml for YAML)

Errors are `{"error": "...", "detail": ...}` like the bridge's own API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Protocol
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import yaml
from werkzeug.wrappers import Request, Response

from bridge.sim.faults import Fault, FaultError, FaultKind, parse_fault
from bridge.sim.targets import FileSd


class UnknownNodeError(KeyError):
    pass


class Controls(Protocol):
    """What the control API needs from the simulator."""

    def now(self) -> float: ...

    def inject(self, node: str, fault: Fault) -> None: ...  # UnknownNodeError

    def clear(self, node: str | None, kind: FaultKind | None) -> int: ...  # UnknownNodeError

    def faults(self) -> list[dict[str, object]]: ...

    def nodes(self) -> list[dict[str, object]]: ...

    def targets(self) -> dict[str, FileSd]: ...


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body, indent=2) + "\n", status, mimetype="application/json")


def _error(status: int, error: str, detail: object = None) -> Response:
    return _json({"error": error, "detail": detail}, status)


def control_app(controls: Controls) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        response = _dispatch(controls, Request(environ))
        return response(environ, start_response)

    return app


def _dispatch(controls: Controls, request: Request) -> Response:
    path, method = request.path.rstrip("/") or "/", request.method
    if path == "/healthz" and method == "GET":
        return _json({"status": "ok"})
    if path == "/nodes" and method == "GET":
        return _json({"nodes": controls.nodes()})
    if path == "/faults":
        if method == "GET":
            return _json({"faults": controls.faults()})
        if method == "POST":
            return _post_fault(controls, request)
        if method == "DELETE":
            return _clear_faults(controls, request)
        return _error(405, "method not allowed", {"allowed": ["GET", "POST", "DELETE"]})
    if path == "/targets" or path.startswith("/targets/"):
        if method != "GET":
            return _error(405, "method not allowed", {"allowed": ["GET"]})
        return _targets(controls, request, path.removeprefix("/targets").strip("/"))
    return _error(404, "not found", {"path": request.path})


def _post_fault(controls: Controls, request: Request) -> Response:
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object", {"example": {"node": "dgx-spark-01"}})
    try:
        node, fault = parse_fault(body, controls.now())
        controls.inject(node, fault)
    except FaultError as exc:
        return _error(400, str(exc), {"field": exc.field})
    except UnknownNodeError as exc:
        return _error(404, f"unknown node {exc.args[0]!r}", {"nodes": _node_names(controls)})
    return _json({"node": node, **fault.to_json()}, 201)


def _clear_faults(controls: Controls, request: Request) -> Response:
    node = request.args.get("node") or None
    raw_kind = request.args.get("fault") or None
    try:
        kind = None if raw_kind is None else FaultKind(raw_kind)
    except ValueError:
        return _error(400, f"unknown fault {raw_kind!r}", {"faults": [k.value for k in FaultKind]})
    try:
        cleared = controls.clear(node, kind)
    except UnknownNodeError as exc:
        return _error(404, f"unknown node {exc.args[0]!r}", {"nodes": _node_names(controls)})
    return _json({"cleared": cleared})


def _targets(controls: Controls, request: Request, job: str) -> Response:
    groups = controls.targets()
    body: object = groups
    if job:
        if job not in groups:
            return _error(404, f"unknown job {job!r}", {"jobs": sorted(groups)})
        body = groups[job]
    if request.args.get("format") == "yaml":
        text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
        return Response(text, 200, mimetype="application/yaml")
    return _json(body)


def _node_names(controls: Controls) -> list[object]:
    return [node["node"] for node in controls.nodes()]
