"""`GET /charts/<delivery id>.png`: whatever the id, a 404 or a chart, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from bridge.settings import Settings
from tests.support.bridge_app import make_app


@pytest.mark.parametrize(
    "delivery_id",
    ["%C2%B9", "%D9%A3", "99999999999999999999999", "-1", "1.5", "abc"],
    ids=["superscript-one", "arabic-indic-three", "too-large", "negative", "decimal", "letters"],
)
def test_a_chart_url_with_an_odd_delivery_id_is_not_found(
    settings: Settings, engine: Engine, delivery_id: str
) -> None:
    # str.isdigit() accepts '¹' and '٣', which int() refuses: that was a 500 (schemathesis).
    response = make_app(settings, engine).test_client().get(f"/charts/{delivery_id}.png?key=x")
    assert response.status_code == 404
