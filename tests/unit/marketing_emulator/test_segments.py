"""The Marketing API emulator's segment API and audience sizes: creation, mappings, exact membership, limits."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from forwarder.marketing_emulator import MarketingState, create_marketing_emulator

pytestmark = pytest.mark.anyio

ADVERTISER = "7002238017842757633"
CREATE = "/open_api/v1.3/segment/audience/"
MAPPING = "/open_api/v1.3/segment/mapping/"
GET = "/open_api/v1.3/dmp/custom_audience/get/"
TOKEN = {"Access-Token": "emulator-token"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_796_000_000.0

    def __call__(self) -> float:
        return self.now


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    state = MarketingState(clock=clock, ready_after_s=0, mapping_qps=0)
    transport = httpx.ASGITransport(app=create_marketing_emulator(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://tiktok.test", headers=TOKEN) as client:
        yield client


async def create(client: httpx.AsyncClient, name: str = "trial_no_purchase_7d") -> str:
    answer = (await client.post(CREATE, json={"advertiser_id": ADVERTISER, "custom_audience_name": name})).json()
    assert answer["code"] == 0, answer
    return str(answer["data"]["audience_id"])


def users(audience_id: str, emails: list[str], schema_size: int = 1) -> list[list[dict[str, Any]]]:
    return [[{"id": sha(e), "audience_ids": [audience_id]}, *([{}] * (schema_size - 1))] for e in emails]


async def mapping(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    request = {"advertiser_ids": [ADVERTISER], "action": "add", "id_schema": ["EMAIL_SHA256"], **body}
    answer: dict[str, Any] = (await client.post(MAPPING, json=request)).json()
    return answer


async def members(client: httpx.AsyncClient, audience_id: str) -> list[list[str]]:
    found: list[list[str]] = (await client.get(f"/_control/audiences/{audience_id}")).json()["users"]
    return found


async def size(client: httpx.AsyncClient, audience_id: str) -> dict[str, Any]:
    params = {"advertiser_id": ADVERTISER, "custom_audience_ids": f'["{audience_id}"]'}
    return dict((await client.get(GET, params=params)).json())


async def test_adds_and_deletes_leave_exact_membership(client: httpx.AsyncClient) -> None:
    audience = await create(client)
    assert (await mapping(client, batch_data=users(audience, ["a@x.com", "b@x.com", "c@x.com"])))["code"] == 0
    assert (await mapping(client, action="delete", batch_data=users(audience, ["b@x.com"])))["code"] == 0
    expected = sorted([[f"EMAIL_SHA256:{sha('a@x.com')}"], [f"EMAIL_SHA256:{sha('c@x.com')}"]])
    assert await members(client, audience) == expected


async def test_ids_of_one_user_are_one_member_and_a_delete_by_any_of_them_removes_it(
    client: httpx.AsyncClient,
) -> None:
    audience = await create(client)
    schema = ["EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256"]
    user = [
        {"id": sha("a@x.com"), "audience_ids": [audience]},
        {"id": sha("+15550001"), "audience_ids": [audience]},
        {},
    ]
    assert (await mapping(client, id_schema=schema, batch_data=[user]))["code"] == 0
    assert len(await members(client, audience)) == 1
    by_phone = [{}, {"id": sha("+15550001"), "audience_ids": [audience]}, {}]
    assert (await mapping(client, action="delete", id_schema=schema, batch_data=[by_phone]))["code"] == 0
    assert await members(client, audience) == []


async def test_a_long_name_is_truncated_to_67_characters_and_dots(client: httpx.AsyncClient) -> None:
    await create(client, "n" * 71)
    state = (await client.get("/_control/state")).json()
    assert state["audiences"][0]["name"] == "n" * 67 + "..."
    await create(client, "m" * 70)
    assert (await client.get("/_control/state")).json()["audiences"][1]["name"] == "m" * 70


async def test_a_new_audience_refuses_mappings_until_it_is_ready(client: httpx.AsyncClient, clock: Clock) -> None:
    await client.post("/_control/script", json={"ready_after_s": 90})
    audience = await create(client)
    early = await client.post(
        MAPPING,
        json={"advertiser_ids": [ADVERTISER], "id_schema": ["EMAIL_SHA256"], "batch_data": users(audience, ["a"])},
    )
    assert early.status_code == 400 and early.json()["code"] == 40002 and "not ready" in early.json()["message"]
    clock.now += 90
    assert (await mapping(client, batch_data=users(audience, ["a"])))["code"] == 0


async def test_ten_thousand_users_pass_and_one_more_is_refused(client: httpx.AsyncClient) -> None:
    audience = await create(client)
    emails = [f"u{i}@x.com" for i in range(10_001)]
    refused = await mapping(client, batch_data=users(audience, emails))
    assert refused["code"] == 40002 and "10000" in refused["message"]
    assert await members(client, audience) == []
    assert (await mapping(client, batch_data=users(audience, emails[:10_000])))["code"] == 0
    assert len(await members(client, audience)) == 10_000


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"id_schema": ["EMAIL_SHA256", "EMAIL_SHA256"]}, "repeat"),
        ({"id_schema": ["GAID_SHA256"]}, "GAID_SHA256"),
        ({"id_schema": ["EMAIL_SHA256", "PHONE_SHA256"]}, "one object per id_schema entry"),
        ({"action": "replace"}, "action"),
        ({"batch_data": []}, "batch_data"),
        ({"batch_data": [[{"id": "abc", "audience_ids": ["AUD"]}]]}, "hex digest"),
        ({"batch_data": [[{"id": sha("a"), "audience_ids": ["999"]}]]}, "does not exist"),
    ],
)
async def test_a_malformed_mapping_is_refused_with_40002(
    client: httpx.AsyncClient, change: dict[str, Any], fragment: str
) -> None:
    audience = await create(client)
    body: dict[str, Any] = {"batch_data": users(audience, ["a@x.com"]), **change}
    if change.get("batch_data"):
        body["batch_data"][0][0]["audience_ids"] = [
            audience if a == "AUD" else a for a in body["batch_data"][0][0]["audience_ids"]
        ]
    answer = await mapping(client, **body)
    assert answer["code"] == 40002 and fragment in answer["message"], answer


async def test_lower_case_schema_names_are_accepted(client: httpx.AsyncClient) -> None:
    audience = await create(client)
    assert (await mapping(client, id_schema=["email_sha256"], batch_data=users(audience, ["a"])))["code"] == 0


async def test_another_advertisers_audience_is_unknown(client: httpx.AsyncClient) -> None:
    audience = await create(client)
    answer = await mapping(client, advertiser_ids=["7002238017842757634"], batch_data=users(audience, ["a"]))
    assert answer["code"] == 40002


async def test_the_segment_api_answers_40100_beyond_50_requests_a_second(client: httpx.AsyncClient) -> None:
    await client.post("/_control/script", json={"mapping_qps": 50})
    audience = await create(client)
    codes = [(await mapping(client, batch_data=users(audience, ["a"])))["code"] for _ in range(51)]
    assert codes[:50] == [0] * 50 and codes[50] == 40100


async def test_a_revoked_token_cannot_map(client: httpx.AsyncClient) -> None:
    audience = await create(client)
    await client.post("/_control/script", json={"revoke_tokens": ["emulator-token"]})
    assert (await mapping(client, batch_data=users(audience, ["a"])))["code"] == 40105


async def test_a_token_without_audience_permission_gets_40001(client: httpx.AsyncClient) -> None:
    await client.post("/_control/script", json={"drop_scopes": {"emulator-token": ["audience"]}})
    answer = (await client.post(CREATE, json={"advertiser_id": ADVERTISER, "custom_audience_name": "a"})).json()
    assert answer["code"] == 40001


async def test_the_size_is_hidden_below_a_thousand(client: httpx.AsyncClient) -> None:
    audience = await create(client)
    await mapping(client, batch_data=users(audience, [f"u{i}" for i in range(999)]))
    answer = await size(client, audience)
    details = answer["data"]["list"][0]["audience_details"]
    assert (details["cover_num"], details["audience_type"], details["is_valid"]) == (0, "Partner", True)
    assert any("below 1000" in w["message"] for w in (await client.get("/_control/state")).json()["warnings"])
    await mapping(client, batch_data=users(audience, ["one more"]))
    assert (await size(client, audience))["data"]["list"][0]["audience_details"]["cover_num"] == 1000
    assert (await size(client, audience))["data"]["list"][0]["audience_history"][0]["action"] == "add"


async def test_a_deleted_audience_is_not_found(client: httpx.AsyncClient) -> None:
    by_api, in_ui = await create(client), await create(client)
    answer = (
        await client.post(CREATE, json={"advertiser_id": ADVERTISER, "action": "delete", "delete_audience_id": by_api})
    ).json()
    assert answer["code"] == 0
    await client.post("/_control/script", json={"delete_audiences": [in_ui]})
    for audience in (by_api, in_ui):
        assert (await size(client, audience))["code"] == 40002
        assert (await mapping(client, batch_data=users(audience, ["a"])))["code"] == 40002


async def test_the_400_audience_cap(client: httpx.AsyncClient) -> None:
    await client.post("/_control/script", json={"max_audiences": 2})
    await create(client)
    await create(client)
    answer = (await client.post(CREATE, json={"advertiser_id": ADVERTISER, "custom_audience_name": "c"})).json()
    assert answer["code"] == 40002


async def test_the_list_pages_through_audiences(client: httpx.AsyncClient) -> None:
    for name in "abc":
        await create(client, name)
    params = {"advertiser_id": ADVERTISER, "page": "2", "page_size": "2"}
    answer = (await client.get("/open_api/v1.3/dmp/custom_audience/list/", params=params)).json()
    assert [a["name"] for a in answer["data"]["list"]] == ["c"]
    assert answer["data"]["page_info"] == {"page": 2, "page_size": 2, "total_number": 3, "total_page": 2}


async def test_what_tiktok_leaves_unsaid_is_accepted_with_a_warning(client: httpx.AsyncClient) -> None:
    """Upper-case hex and a user with no id at all: TikTok does not document either, so both pass and are noted."""
    audience = await create(client)
    upper = [[{"id": sha("a").upper(), "audience_ids": [audience]}], [{}]]
    assert (await mapping(client, batch_data=upper))["code"] == 0
    messages = [w["message"] for w in (await client.get("/_control/state")).json()["warnings"]]
    assert any("upper-case hex" in m for m in messages) and any("no id at all" in m for m in messages)
    assert await members(client, audience) == [[f"EMAIL_SHA256:{sha('a')}"]]


async def test_deleting_an_unknown_audience_is_40002(client: httpx.AsyncClient) -> None:
    body = {"advertiser_id": ADVERTISER, "action": "delete", "delete_audience_id": "1"}
    assert (await client.post(CREATE, json=body)).json()["code"] == 40002
