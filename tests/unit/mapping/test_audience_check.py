"""Audience definitions are checked with the mapping tables: every problem named by its key."""

from __future__ import annotations

from pathlib import Path

from forwarder.mapping.check import check_mappings
from forwarder.tiktok.event_names import check_event_name
from tests.conftest import make_settings

ADVERTISER = "7002238017842757633"


def problems(tmp_path: Path, audience: dict, **marketing: object) -> list[str]:
    settings = make_settings(
        tmp_path, audiences={"a": {"advertiser_id": ADVERTISER, **audience}}, marketing=marketing or {}
    )
    _, found = check_mappings(settings, check_event_name=check_event_name)
    return [str(p) for p in found]


def test_a_bad_condition_and_an_unless_that_is_the_enter_event_are_errors(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {"enter": {"event": "START_TRIAL", "when": {"properties.x": {"gt": "ten"}}}, "unless": {"event": "start_trial",
                                                                                              "within_s": 5}},
        access_token="t",
    )  # fmt: skip
    assert found == [
        "error: config: audiences.a.enter.when.properties.x: properties.x: `gt` takes a number",
        "error: config: audiences.a.unless.event: is the enter event: nobody would ever enter",
    ]


def test_audiences_without_a_credential_warn_and_a_foreign_advertiser_is_an_error(tmp_path: Path) -> None:
    assert problems(tmp_path, {"enter": {"event": "START_TRIAL"}}) == [
        "warning: config: marketing: audiences need a Marketing API credential: set marketing.access_token (as a "
        "secret) or marketing.app_id, app_secret and public_url to connect TikTok from the status page"
    ]
    assert problems(tmp_path, {"enter": {"event": "X"}}, access_token="t", advertiser_ids=["1"]) == [
        f"error: config: audiences.a.advertiser_id: {ADVERTISER} is not among marketing.advertiser_ids"
    ]
