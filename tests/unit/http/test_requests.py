"""What every ingest endpoint does before it looks at an event: hostile input (every malformed, oversized or odd
request) gets a 4xx naming the problem and the service stays up; a key over its rate limit is refused alone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.conftest import AUTH, event, make_settings, open_client
from tests.unit.conftest import bearer, client_for

NOW = int(time.time())
HOSTILE: list[tuple[str, bytes]] = [
    ("truncated", b'{"event": "PURCHASE", "timestamp": '),
    ("not json", b"<xml/>"),
    ("trailing garbage", b'{"event": "PURCHASE", "timestamp": 1} {}'),
    ("deep nesting", b'{"event": "X", "properties": ' + b'{"a":' * 5000 + b"1" + b"}" * 5001),
    ("deep list", b"[" * 100_000),
    ("NaN", b'{"event": "PURCHASE", "timestamp": NaN}'),
    ("Infinity value", b'{"event": "P", "timestamp": %d, "properties": {"value": Infinity}}' % NOW),
    ("1e400", b'{"event": "P", "timestamp": 1e400}'),
    ("huge integer", b'{"event": "P", "timestamp": 1' + b"0" * 5000 + b"}"),
    ("lone surrogate", b'{"event": "\\ud800", "timestamp": %d}' % NOW),
    ("lone surrogate key", b'{"event": "P", "timestamp": %d, "properties": {"\\udfff": 1}}' % NOW),
    ("invalid utf-8", b'{"event": "\xff\xfe\xfd", "timestamp": 1}'),
    ("latin-1", '{"event": "caf\xe9", "timestamp": 1}'.encode("latin-1")),
    ("huge string", json.dumps({"event": "x" * 900_000, "timestamp": NOW}).encode()),
    ("huge id", json.dumps({"event": "P", "event_id": "i" * 10_000, "timestamp": NOW}).encode()),
    ("wrong types", json.dumps({"event": ["P"], "timestamp": {"at": 1}, "user": "me", "device": 7}).encode()),
    ("null event", json.dumps({"event": None, "timestamp": NOW}).encode()),
    ("bool timestamp", json.dumps({"event": "P", "timestamp": True}).encode()),
    (
        "value 1e300",
        json.dumps(
            {"event": "PURCHASE", "timestamp": NOW, "app": {"id": "a"}, "properties": {"value": 1e300}}
        ).encode(),
    ),
    ("events not list", json.dumps({"events": "all"}).encode()),
    ("array body", b"[]"),
    ("empty", b""),
    ("whitespace", b" \n\t "),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("hostile")
    with open_client(make_settings(tmp, delivery={"enabled": False}), respx.Router()) as client:
        yield client


@pytest.mark.parametrize(("name", "body"), HOSTILE, ids=[name for name, _ in HOSTILE])
def test_hostile_bodies_get_a_4xx_with_a_reason(client: TestClient, name: str, body: bytes) -> None:
    answer = client.post("/v1/events", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text[:200])
    reply = answer.json()
    assert reply.get("error") or reply.get("rejected"), reply
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("with_length", [True, False])
def test_ten_megabytes_is_refused_before_it_is_read(client: TestClient, with_length: bool) -> None:
    body = b'{"events": [' + b'{"event": "P", "timestamp": 1},' * 330_000 + b"{}]}"
    assert len(body) > 10_000_000
    content: Any = body if with_length else iter([body[i : i + 1 << 16] for i in range(0, len(body), 1 << 16)])
    answer = client.post("/v1/events", content=content, headers=AUTH)
    assert answer.status_code == 413 and answer.json()["error"] == "body_too_large"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event=st.dictionaries(
        st.sampled_from(
            [
                "event",
                "timestamp",
                "event_id",
                "app",
                "user",
                "device",
                "properties",
                "ad",
                "page",
                "limited_data_use",
                "test_event_code",
            ]
        ),
        JSON,
    )
)
def test_arbitrary_json_in_known_fields_never_fails_the_server(client: TestClient, event: dict[str, Any]) -> None:
    answer = client.post("/v1/events", json=event, headers=AUTH)
    assert answer.status_code in (202, 400, 422), answer.text[:300]


def test_rate_limit_applies_to_the_hot_key_only(tmp_path: Path) -> None:
    with client_for(tmp_path, rate_limit_per_s=0.001, rate_limit_burst=3) as client:
        codes = [
            client.post("/v1/events", json=event(event_id=str(i)), headers=bearer("key-one")).status_code
            for i in range(5)
        ]
        assert codes == [202, 202, 202, 429, 429]
        limited = client.post("/v1/events", json=event(), headers=bearer("key-one"))
        assert limited.json()["error"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
        assert client.post("/v1/events", json=event(event_id="x"), headers=bearer("key-two")).status_code == 202
