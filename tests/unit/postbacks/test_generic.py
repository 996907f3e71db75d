"""Generic postbacks (`generic.py`): a source's field table reads any platform's payload."""

from __future__ import annotations

import respx
from starlette.testclient import TestClient

from tests.unit.postbacks.conftest import sent, sha


def test_generic_source_from_a_field_table(client: TestClient, router: respx.Router) -> None:
    body = {
        "type": "PURCHASE",
        "id": "g-1",
        "ts": 1795300000,
        "customer": {"email": "X@Example.com"},
        "amount": "12.50",
        "cur": "eur",
    }
    answer = client.post("/v1/postbacks/partner", json=body, headers={"Authorization": "Bearer partner-key"})
    assert answer.status_code == 202, answer.text
    [event] = sent(router)
    assert (event["event"], event["event_id"], event["user"]["email"]) == ("Purchase", "g-1", [sha("x@example.com")])
    assert event["properties"] == {"value": 12.5, "currency": "EUR"}
