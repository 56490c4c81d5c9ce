"""`BRIDGE_CONSOLE_READ_AUTH=true` covers every read of alert data, not only the console's
pages: `GET /alerts` and the `/silences` reads answer only to the API token (bearer) or a
console session, on both databases."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from sqlalchemy import Engine

from bridge.settings import Settings
from tests.integration.test_console import TOKEN, make, sign_in
from tests.support.bridge_app import post_alerts
from tests.support.payloads import alert, payload

SECRET_LABEL = "team-secret-label-value"
READS = ("/alerts", "/alerts?status=firing", "/silences", "/silences/some-window-id")


def _with_an_alert(settings: Settings, engine: Engine, *, read_auth: bool) -> Flask:
    app = make(settings, engine, console_read_auth=read_auth)
    post_alerts(app, payload(alert("GPUTemperatureCritical", fingerprint="fp1", team=SECRET_LABEL)))
    return app


@pytest.mark.parametrize("path", READS)
def test_reads_of_alert_data_need_the_token_when_read_auth_is_on(
    settings: Settings, engine: Engine, path: str
) -> None:
    client = _with_an_alert(settings, engine, read_auth=True).test_client()
    for headers in ({}, {"Authorization": "Bearer " + TOKEN + "x"}, {"Authorization": TOKEN}):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401, (path, headers)
        assert answer.get_json()["error"] == "unauthorized"
        assert 'Bearer realm="alert-bridge"' in answer.headers["WWW-Authenticate"]
        assert SECRET_LABEL not in answer.get_data(as_text=True)


def test_the_api_token_as_bearer_reads_alerts_when_read_auth_is_on(
    settings: Settings, engine: Engine
) -> None:
    client = _with_an_alert(settings, engine, read_auth=True).test_client()
    answer = client.get("/alerts", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    (shown,) = answer.get_json()["alerts"]
    assert shown["labels"]["team"] == SECRET_LABEL
    listed = client.get("/silences", headers={"Authorization": f"Bearer {TOKEN}"})
    assert listed.status_code == 200 and listed.get_json() == {"silences": []}


def test_a_console_session_reads_alerts_when_read_auth_is_on(
    settings: Settings, engine: Engine
) -> None:
    client = _with_an_alert(settings, engine, read_auth=True).test_client()
    sign_in(client)
    answer = client.get("/alerts")
    assert answer.status_code == 200 and SECRET_LABEL in answer.get_data(as_text=True)
    client.post("/logout", data={"csrf": "x"})  # a wrong CSRF token does not end it
    assert client.get("/alerts").status_code == 200


def test_without_read_auth_alerts_stay_readable_without_a_token(
    settings: Settings, engine: Engine
) -> None:
    client = _with_an_alert(settings, engine, read_auth=False).test_client()
    answer = client.get("/alerts")
    assert answer.status_code == 200
    assert json.loads(answer.get_data())["alerts"][0]["labels"]["team"] == SECRET_LABEL


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("authorization", ["Bearer made-up", "Bearer ", "bearer " + TOKEN + "x"])
def test_a_bearer_token_that_is_not_the_api_token_reads_nothing_even_without_read_auth(
    settings: Settings, engine: Engine, path: str, authorization: str
) -> None:
    # The shipped proxy lets a bearer header past its login on these paths, for the bridge
    # to judge: a made-up (or empty) one must not read what that login guards.
    client = _with_an_alert(settings, engine, read_auth=False).test_client()
    answer = client.get(path, headers={"Authorization": authorization})
    assert answer.status_code == 401, (path, authorization)
    assert SECRET_LABEL not in answer.get_data(as_text=True)
    assert TOKEN not in answer.get_data(as_text=True)
    right = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code in (200, 404), path  # 404: that window does not exist


def test_probes_metrics_and_the_api_description_stay_open_with_read_auth(
    settings: Settings, engine: Engine
) -> None:
    client = _with_an_alert(settings, engine, read_auth=True).test_client()
    for path in ("/healthz", "/metrics", "/openapi.json"):
        assert client.get(path).status_code == 200, path
