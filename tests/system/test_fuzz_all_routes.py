"""Every route of `/openapi.json`, fuzzed against a real `forwarder serve`: no request may answer 5xx.

Schemathesis generates valid and invalid requests for every operation of the description; hypothesis adds hostile
bodies and query strings (deep nesting, NUL, huge numbers, wrong types) for each postback kind and admin route.
Bounded for CI by FORWARDER_FUZZ_EXAMPLES (examples per operation); set it higher locally to hunt further.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from forwarder.dead_filters import dead_filter
from forwarder.events import utc_iso
from forwarder.http.openapi_postbacks import ADJUST, APPSFLYER, BRANCH, REVENUECAT
from tests.configs import service_config
from tests.conftest import REPO
from tests.processes import free_port, running

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("FORWARDER_FUZZ_EXAMPLES", "30"))
ADMIN_TOKEN = "fuzz-admin-token"
SDK = {"Authorization": "Bearer fuzz-sdk-key"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# One source of each postback kind, its key sent the way that platform sends it.
POSTBACKS = {
    "appsflyer": {"Authorization": "fuzz-af-key"},
    "adjust": {"Authorization": "Bearer fuzz-adjust-key"},
    "branch": {"Authorization": "fuzz-branch-key"},
    "revenuecat": {"Authorization": "Bearer fuzz-rc-key"},
    "partner": {"Authorization": "fuzz-generic-key"},
}
FIELDS = {
    "appsflyer": sorted(APPSFLYER),
    "adjust": sorted(ADJUST),
    "branch": sorted(BRANCH),
    "revenuecat": sorted(REVENUECAT),
    "partner": ["type", "id", "ts", "amount", "cur", "customer"],
}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("fuzz-all")
    shutil.copytree(REPO / "mappings", tmp / "mappings")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    fields = {
        "event": "type",
        "event_id": "id",
        "timestamp": "ts",
        "properties.value": "amount",
        "properties.currency": "cur",
        "user.email": "customer.email",
    }
    config = service_config(
        tmp / "config.toml",
        port=port,
        store_url=f"sqlite:///{tmp / 'forwarder.db'}",
        embedded_emulator=True,
        mappings_dir=tmp / "mappings",
        top_level={"log_level": "warning", "admin_token": ADMIN_TOKEN},
        delivery={"poll_interval_s": 0.2},
        sources={
            "app": {"keys": ["fuzz-sdk-key"]},
            "appsflyer": {"kind": "appsflyer", "keys": ["fuzz-af-key"]},
            "adjust": {"kind": "adjust", "keys": ["fuzz-adjust-key"], "app_id": "com.example.app"},
            "branch": {"kind": "branch", "keys": ["fuzz-branch-key"], "app_id": "com.example.app"},
            "revenuecat": {"kind": "revenuecat", "keys": ["fuzz-rc-key"], "app_id": "com.example.app"},
            "partner": {"kind": "generic", "keys": ["fuzz-generic-key"], "app_id": "com.example.app", "fields": fields},
        },
        destinations={"app": {"event_source": "app", "event_source_id": "111", "access_token": "fuzz-access-token"}},
    )
    with running(["serve", "--config", str(config)], f"{base}/healthz", tmp / "serve.log"):
        yield base


def credentials(label: str, case: schemathesis.Case, source: str) -> dict[str, str]:
    if label == "POST /v1/events":
        return SDK
    if "/v1/postbacks/" in label:
        case.path_parameters = {"source": source}
        return POSTBACKS[source]
    return ADMIN


def fuzz_operation(operation: Any, calls: Counter[str]) -> None:
    label = operation.label
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=strategy, source=st.sampled_from(sorted(POSTBACKS)))
    @FUZZ
    def check(case: schemathesis.Case, source: str) -> None:
        response = case.call(headers=credentials(label, case, source), timeout=20)
        calls[label] += 1
        assert response.status_code < 500, (label, case.path_parameters, response.text[:300])

    check()


def test_every_operation_of_the_description_answers_below_500(service: str) -> None:
    """Schemathesis over every operation, valid and invalid requests, with the right credential for each."""
    schema = schemathesis.openapi.from_url(f"{service}/openapi.json")
    calls: Counter[str] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        fuzz_operation(operation, calls)
    labels = {operation.label for operation in operations}
    assert {"POST /v1/events", "GET /v1/postbacks/{source}", "POST /v1/postbacks/{source}"} <= labels
    assert {"GET /v1/admin/dead", "POST /v1/admin/dead/replay", "POST /v1/admin/reload", "GET /metrics"} <= labels
    assert {"GET /v1/stats", "GET /v1/events/{event_id}", "GET /healthz", "GET /readyz"} <= labels
    assert set(calls) == labels and min(calls.values()) > 0, calls


# Values a platform (or an attacker holding its key) can put in any field.
HOSTILE_SCALARS = (
    st.sampled_from(["", "None", "{idfa}", "\x00", "a\x00b", "1e400", "NaN", "-1", "9" * 400, "٣", "\ud7ff"])
    | st.text(max_size=40)
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
)
JSON = st.recursive(
    HOSTILE_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


def nested(levels: int, leaf: Any) -> Any:
    for _ in range(levels):
        leaf = {"a": [leaf]}
    return leaf


HOSTILE = JSON | st.builds(nested, st.integers(30, 300), JSON) | st.just("x" * 20_000)


def deep_json(levels: int) -> str:
    """Objects nested `levels` deep, as JSON text (json.dumps itself stops near Python's recursion limit)."""
    return '{"a": ' * levels + "1" + "}" * levels


DEEP = st.tuples(st.sampled_from(sorted({name for names in FIELDS.values() for name in names})), st.integers(900, 1020))


def valid_postback(source: str) -> dict[str, Any]:
    """A payload the adapter converts, so hostile values in the other fields reach the code past its checks."""
    now = time.time()
    return {
        "appsflyer": {"event_name": "af_purchase", "event_time": utc_iso(now).replace("T", " ")[:19]},
        "adjust": {"event_name": "purchase", "created_at": str(int(now))},
        "branch": {"name": "PURCHASE", "timestamp": int(now * 1000), "id": "1"},
        "revenuecat": {"event": {"type": "NON_RENEWING_PURCHASE", "id": "r1", "event_timestamp_ms": int(now * 1000)}},
        "partner": {"type": "PURCHASE", "ts": int(now), "id": "p1"},
    }[source]


EVENT_FIELDS = ["event", "event_id", "test_event_code", "timestamp", "properties", "ad", "user", "device", "app", "x"]


DEEP_EVENT = st.none() | st.tuples(st.sampled_from(EVENT_FIELDS), st.integers(30, 1020))


@st.composite
def postback_payload(draw: st.DrawFn, source: str) -> dict[str, Any]:
    names = FIELDS[source] + ["event", "key", "\x00"]
    base = valid_postback(source) if draw(st.booleans()) else {}
    hostile = draw(st.dictionaries(st.sampled_from(names), HOSTILE, max_size=4))
    if source == "revenuecat" and draw(st.booleans()):
        inner = draw(st.dictionaries(st.sampled_from([*REVENUECAT["event"]["properties"]]), HOSTILE, max_size=4))
        return {"event": {**valid_postback(source)["event"], **inner}}
    return {**base, **hostile}


def query_of(values: dict[str, Any]) -> dict[str, str]:
    return {name: (value if isinstance(value, str) else str(value))[:2000] for name, value in values.items()}


@pytest.mark.parametrize("source", sorted(POSTBACKS))
def test_hostile_postbacks_of_each_kind_answer_below_500(service: str, source: str) -> None:
    """Every documented field of the platform, with objects, lists, NUL, deep nesting, huge numbers and strings."""
    answers: Counter[int] = Counter()

    @given(payload=postback_payload(source), as_query=st.booleans(), deep=st.none() | DEEP)
    @FUZZ
    def check(payload: dict[str, Any], as_query: bool, deep: tuple[str, int] | None) -> None:
        url = f"{service}/v1/postbacks/{source}"
        headers = POSTBACKS[source]
        if as_query:
            response = httpx.get(url, params=query_of(payload), headers=headers, timeout=20)
        elif deep:
            # Deeper than Python's recursion limit, as orjson parses it: json.dumps could not even write it.
            field, levels = deep
            body = json.dumps({**payload, field: "__deep__"}).replace('"__deep__"', deep_json(levels))
            response = httpx.post(url, content=body, headers=headers, timeout=20)
        else:
            response = httpx.post(url, json=payload, headers=headers, timeout=20)
        answers[response.status_code] += 1
        assert response.status_code < 500, (payload, response.text[:300])

    check()
    assert sum(answers.values()) >= EXAMPLES and set(answers) & {200, 202, 422}, answers


def test_hostile_events_answer_below_500(service: str) -> None:
    """Every field of an otherwise valid event, hostile values, in a batch with a valid event that must be accepted."""

    @given(hostile=st.dictionaries(st.sampled_from(EVENT_FIELDS), HOSTILE, min_size=1, max_size=3), deep=DEEP_EVENT)
    @FUZZ
    def check(hostile: dict[str, Any], deep: tuple[str, int] | None) -> None:
        good = {"event": "PURCHASE", "timestamp": int(time.time()), "app": {"id": "com.example.app"}}
        bad = {**good, **hostile}
        body = json.dumps({"events": [good, bad]})
        if deep:
            field, levels = deep
            body = json.dumps({"events": [good, {**bad, field: "__deep__"}]})
            body = body.replace('"__deep__"', deep_json(levels))
        response = httpx.post(f"{service}/v1/events", content=body, headers=SDK, timeout=20)
        assert response.status_code == 202, (hostile, response.text[:300])
        assert response.json()["accepted"] + response.json()["duplicates"] >= 1

    check()


FILTER_NAMES = ["destination", "since", "until", "tiktok_code", "event", "limit", "bogus"]


def test_hostile_admin_requests_answer_below_500(service: str) -> None:
    """Dead-letter filters as query and body, ledger ids, and credentials that are not UTF-8, on every admin route."""
    seen: Counter[str] = Counter()

    @given(
        query=st.dictionaries(st.sampled_from(FILTER_NAMES), HOSTILE_SCALARS.map(str), max_size=4),
        body=st.dictionaries(st.sampled_from(FILTER_NAMES), HOSTILE, max_size=4) | HOSTILE,
        event_id=st.text(min_size=1, max_size=300).filter(lambda text: text not in (".", "..")),
        # Any bytes h11 lets a header value carry: visible ASCII and every byte above it (not UTF-8 as a rule).
        credential=st.lists(st.sampled_from([*range(0x21, 0x7F), *range(0x80, 0x100)]), min_size=1, max_size=40).map(
            bytes
        ),
    )
    @FUZZ
    def check(query: dict[str, str], body: Any, event_id: str, credential: bytes) -> None:
        with httpx.Client(base_url=service, timeout=20) as client:
            answers = {
                "dead": client.get("/v1/admin/dead", params=query, headers=ADMIN),
                "replay": client.post("/v1/admin/dead/replay", json=body, headers=ADMIN),
                "ledger": client.get(f"/v1/events/{quote(event_id, safe='')}", headers=ADMIN),
            }
            for path in ("/", "/v1/stats", "/metrics", "/v1/admin/dead", "/v1/events/x"):
                answers[path] = client.get(path, headers={"Authorization": b"Basic " + credential})
            answers["reload"] = client.post("/v1/admin/reload", headers={"Authorization": b"Basic " + credential})
        for name, response in answers.items():
            seen[name] += 1
            assert response.status_code < 500, (name, query, body, response.text[:300])
        assert answers["dead"].status_code == (200 if _valid_filter(query) else 400), (query, answers["dead"].text)

    check()
    assert min(seen.values()) >= EXAMPLES, seen


def _valid_filter(values: dict[str, str]) -> bool:
    try:
        dead_filter(values)
    except ValueError:
        return False
    return True
