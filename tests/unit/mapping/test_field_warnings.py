"""Fields of an inbound event we neither know nor use (`field_warnings.py`): answered as warnings naming the closest
known field, never refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import respx

from tests.conftest import AUTH, event, make_settings, open_client, wait_for


def test_unknown_fields_are_warnings_with_the_closest_known_name(
    tmp_path: Path, settings_values: dict[str, Any]
) -> None:
    tiktok = respx.Router(assert_all_called=False)
    tiktok.post(url__regex=".*").respond(json={"code": 0, "message": "OK", "data": {}})
    typo = event(event_id="typo", usr={"email": "a@example.com"}, extras={"amount": 5}, zzz=1)
    typo["user"] = {**typo["user"], "emial": "x"}
    with open_client(make_settings(tmp_path, **settings_values), tiktok) as client:
        body = client.post("/v1/events", json={"events": [event(event_id="ok"), typo]}, headers=AUTH).json()
        wait_for(lambda: len(tiktok.calls) >= 1)
    assert body["accepted"] == 2 and body["rejected"] == []
    # `extras` is read by a mapping rule (events.CUSTOM): in use, so not unknown.
    assert body["warnings"] == [
        {"index": 1, "field": "usr", "message": "unknown field; did you mean user?"},
        {"index": 1, "field": "zzz", "message": "unknown field; not sent to TikTok (a mapping rule may read it)"},
        {"index": 1, "field": "user.emial", "message": "unknown field; did you mean user.email?"},
    ]


def test_an_event_without_unknown_fields_gets_no_warnings(tmp_path: Path) -> None:
    with open_client(make_settings(tmp_path), respx.Router(assert_all_called=False)) as client:
        body = client.post("/v1/events", json=event(), headers=AUTH).json()
    assert "warnings" not in body and "not_forwarded" not in body
