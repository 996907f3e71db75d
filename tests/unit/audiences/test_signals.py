"""Which audiences an event enters, cancels or leaves, from its hashed identifiers only."""

from __future__ import annotations

import hashlib
import json

from forwarder.audiences.signals import AudienceRules, hash_device_id, identifiers
from forwarder.settings_audiences import AudienceSettings

IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"


def rules(**audience: object) -> AudienceRules:
    definition = {"advertiser_id": "1", "enter": {"event": "START_TRIAL"}, **audience}
    return AudienceRules({"a": AudienceSettings.model_validate(definition)})


def test_names_match_however_written_and_when_conditions_apply() -> None:
    trial = rules(enter={"event": "START_TRIAL", "when": {"properties.plan": "annual"}})
    document = {"user": {"email": ["e" * 64]}, "properties": {"plan": "annual"}}
    [signal] = trial.signals("start-trial", "id1", document, 100.0, False)
    assert (signal.action, signal.at, signal.due_at, signal.consent_held) == ("enter", 100.0, None, None)
    assert trial.signals("START_TRIAL", "id2", {"properties": {"plan": "monthly"}}, 100.0, False) == []
    assert trial.signals("PURCHASE", "id3", document, 100.0, False) == []


def test_unless_sets_the_due_time_and_the_ttl_counts_from_it() -> None:
    audience = rules(unless={"event": "PURCHASE", "within_s": 60}, exit={"event": "CANCEL"}, ttl_s=10)
    [enter] = audience.signals("START_TRIAL", "t", {}, 100.0, False)
    assert (enter.due_at, enter.expires_at) == (160.0, 170.0)
    assert [s.action for s in audience.signals("PURCHASE", "p", {}, 120.0, False)] == ["cancel"]
    assert [s.action for s in audience.signals("CANCEL", "c", {}, 120.0, False)] == ["exit"]


def test_consent_holds_users_unless_the_audience_says_otherwise() -> None:
    device = {"device": {"att_status": "denied", "idfa": IDFA}}
    assert rules().signals("START_TRIAL", "t", device, 1.0, False)[0].consent_held == "att_denied"
    assert rules().signals("START_TRIAL", "t", {}, 1.0, True)[0].consent_held == "limited_data_use"
    assert rules(sync_att_denied=True).signals("START_TRIAL", "t", device, 1.0, False)[0].consent_held is None


def test_identifiers_are_hashed_device_ids_lower_cased_first() -> None:
    found = identifiers({"email": ["a" * 64, "b" * 64], "external_id": ["c" * 64]}, {"idfa": IDFA, "gaid": "0000"})
    assert found == {
        "email": "a" * 64,
        "external_id": "c" * 64,
        "idfa": hashlib.sha256(IDFA.lower().encode()).hexdigest(),
    }
    assert found["idfa"].startswith("31b806b4deec8c4c")  # the digest's vector for the lower-cased IDFA
    assert hash_device_id("F" * 64) == "f" * 64  # already hashed: kept
    [signal] = rules().signals("START_TRIAL", "t", {"user": {"email": ["a" * 64]}}, 1.0, False)
    assert json.loads(signal.ids) == {"email": "a" * 64}
