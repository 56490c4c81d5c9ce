"""`/openapi.json`, `/healthz`, `/readyz` and `/alerts` filters."""

from __future__ import annotations

from sqlalchemy import Engine

from bridge.db.migrate import head_revision
from bridge.settings import Settings
from tests.support.bridge_app import make_app


def test_openapi_documents_every_route(settings: Settings, engine: Engine) -> None:
    app = make_app(settings, engine)
    spec = app.test_client().get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    routes = {
        str(rule.rule).replace("<", "{").replace(">", "}")
        for rule in app.url_map.iter_rules()
        # The web console's pages are HTML for people (README "Web console"), not API.
        if rule.endpoint != "static" and not rule.endpoint.startswith("console.")
    }
    assert routes <= set(spec["paths"]), routes - set(spec["paths"])


def test_readyz_reports_schema_at_head(settings: Settings, engine: Engine) -> None:
    client = make_app(settings, engine).test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["schema"] == head_revision()


def test_readyz_is_503_before_migrations(settings: Settings, tmp_path: object) -> None:
    from bridge.db.engine import make_engine

    empty = make_engine(f"sqlite:///{tmp_path}/empty.db")
    response = make_app(settings, empty).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"] == "schema not at head"


def test_alerts_rejects_bad_filters(settings: Settings, engine: Engine) -> None:
    client = make_app(settings, engine).test_client()
    assert client.get("/alerts?status=bogus").status_code == 400
    assert client.get("/alerts?limit=0").status_code == 400
    assert client.get("/alerts?limit=10").status_code == 200


def test_unknown_route_and_method_answer_json(settings: Settings, engine: Engine) -> None:
    client = make_app(settings, engine).test_client()
    missing = client.get("/nope")
    assert missing.status_code == 404 and "error" in missing.get_json()
    wrong = client.get("/webhook/alertmanager")
    assert wrong.status_code == 405 and "error" in wrong.get_json()
