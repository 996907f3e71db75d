"""TikTok's return codes as data: what each means for a request to `/event/track/` and what we do about it.

Sources, per row in `evidence`: TikTok's return-code table ("Return codes" of the API for Business,
https://business-api.tiktok.com/portal/docs?id=1737172488964097, carried by TikTok's official SDK
github.com/tiktok/tiktok-business-api-sdk) as classified in issue 13 ("issue 13": the table itself was not in
the stored copies searched for this module, so a row backed by issue 13 alone has its class from there and its
wording from us);
SleekFlow's copy of TikTok's Business API code list ("sleekflow"); RudderStack `tiktok_ads/networkHandler.js`
("rudderstack": 0|20001 OK, 40100 throttle, 40001|40002 abort); Airbyte `source-tiktok-marketing`
("airbyte": 40100 rate limited, 60001 maintenance, 40105 token); stape-io/tiktok-tag issues #10 and #33 (real
40002 answers). Neither TikTok nor a peer documents the body of a 20001 answer for `/event/track/`:
`refused_events` in client.py reads the shapes listed there; an answer naming no event gets its batch split and
each half sent again (TikTok's event_id dedup keeps what it already took once).

Classes, each handled by one rule in events_api.py (the Destination) and the loop it answers (delivery/):
  ok          delivered
  partial     20001: the events the answer names as refused fail, the rest are delivered (never a plain success)
  credential  the token or its permission: pause the destination, keep its events, probe with one event
  config      a request-wide setting (partner_name, event source): pause with the reason and the fix
  rate_limit  back off (Retry-After honoured) without counting an attempt; the circuit stays closed
  tiktok      TikTok-side trouble: retry with backoff until the event is `delivery.max_age_h` old
  event       the event itself is wrong: fail it (a batch is split to find it) and keep the others
  unknown     a code not in this table: retried `delivery.unknown_code_max_attempts` times, then failed
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

CodeClass = Literal["ok", "partial", "credential", "config", "rate_limit", "tiktok", "event", "unknown"]


@dataclass(frozen=True)
class Code:
    code: int
    kind: CodeClass
    meaning: str
    action: str  # what the operator should do
    evidence: str


_TOKEN = "generate a new Events API access token for this event source in Events Manager and set `access_token`"
_ACCESS = "make the token's owner an admin or operator of the pixel / app / event set, or use a token made there"
_WAIT = "nothing: the forwarder backs off and sends again"
_RETRY = "nothing: the forwarder retries until the event is `delivery.max_age_h` old; then replay dead letters"

TABLE: dict[int, Code] = {
    c.code: c
    for c in (
        Code(0, "ok", "OK", "nothing", "issue 13; rudderstack; airbyte"),
        Code(
            20001,
            "partial",
            "partial success: some events were refused",
            "read the refused events' reasons",
            "issue 13; rudderstack (treated as OK there)",
        ),
        Code(
            40000,
            "event",
            "a field value is invalid (e.g. a price sent as a string)",
            "fix the event's field",
            "react-native-tiktok-business-sdk #30; issue 13",
        ),
        Code(
            40001,
            "credential",
            "no permission to operate this event source",
            _ACCESS,
            "issue 13; sleekflow; rudderstack",
        ),
        Code(
            40002,
            "event",
            "a parameter of the event is invalid (type, enum, format)",
            "fix the field the message names",
            "issue 13; sleekflow; stape #10; rudderstack",
        ),
        Code(
            40003, "credential", "the advertiser or event source is not authorised for this token", _ACCESS, "issue 13"
        ),
        Code(
            40007,
            "config",
            "the object the request names does not exist (event_source_id)",
            "check `event_source_id` is the pixel code / TikTok App ID / event set ID of this event source",
            "sleekflow; issue 13",
        ),
        Code(
            40061,
            "config",
            "a request-wide parameter is not accepted for this event source",
            "check `event_source` and `event_source_id` belong together",
            "issue 13",
        ),
        Code(40063, "config", "partner_name is not accepted", "fix or remove `[tiktok] partner_name`", "issue 13"),
        Code(
            40100,
            "rate_limit",
            "too many requests (QPS limit of the app or token)",
            _WAIT,
            "issue 13; sleekflow; rudderstack; airbyte",
        ),
        Code(40101, "credential", "the app ID and secret are not valid", _TOKEN, "issue 13; TikTok OAuth enum"),
        Code(40102, "credential", "the access token has expired", _TOKEN, "issue 13"),
        Code(40104, "credential", "the access token is empty", "set `access_token` for this destination", "issue 13"),
        Code(
            40105,
            "credential",
            "the access token is incorrect or has been revoked",
            _TOKEN,
            "issue 13; sleekflow; airbyte",
        ),
        Code(40110, "credential", "the OAuth authorisation code is not valid", _TOKEN, "issue 13; TikTok OAuth enum"),
        Code(
            40113,
            "credential",
            "the token's app lacks the permission (scope) for this API",
            "authorise the Events API scope for the app that issued the token",
            "issue 13",
        ),
        Code(
            40118,
            "credential",
            "the token's advertiser or app is not allowed to call this API",
            "ask TikTok to allow-list the account (app events via Events API 2.0 are allow-listed)",
            "issue 13",
        ),
        Code(40130, "credential", "the token has no permission on this event source", _ACCESS, "issue 13"),
        Code(40132, "rate_limit", "request quota exceeded", _WAIT, "issue 13"),
        Code(50000, "tiktok", "TikTok internal error", _RETRY, "issue 13"),
        Code(50002, "tiktok", "TikTok service temporarily unavailable", _RETRY, "issue 13"),
        Code(51021, "rate_limit", "too many requests", _WAIT, "third-party test fixtures; issue 13"),
        Code(60001, "tiktok", "TikTok service under maintenance", _RETRY, "issue 13; airbyte"),
        Code(61000, "rate_limit", "request throttled by TikTok", _WAIT, "issue 13"),
    )
}

# A 40002 naming a field of the request envelope is one wrong setting, not one wrong event: splitting the batch
# would fail every event in turn (stape #33: "Invalid value for event_source_id: not a valid string.").
_ENVELOPE_FIELD = re.compile(r"\b(event_source_id|event_source|partner_name|test_event_code)\b")
_EVENT_PATH = re.compile(r"\b(?:[Bb]atch|data)\.\d+\.")


def lookup(code: int) -> Code | None:
    return TABLE.get(code)


def classify_code(code: int, message: str = "") -> CodeClass:
    """The class of a TikTok `code`; the message only decides whether a 40002 is about the envelope."""
    known = TABLE.get(code)
    if code == 40002 and _ENVELOPE_FIELD.search(message) and not _EVENT_PATH.search(message):
        return "config"
    if known is not None:
        return known.kind
    if 50000 <= code < 60000:
        return "tiktok"  # every 5xxxx is TikTok's side of the request
    return "unknown"


def operator_reason(code: int | None, message: str) -> str:
    """A pause reason in plain words: TikTok's message, then what the code means and what to do."""
    known = TABLE.get(code) if code is not None else None
    if known is None:
        return message
    if classify_code(code or 0, message) == "config" and known.kind != "config":
        return f"{message} (a setting every request carries was refused: fix the one the message names)"
    return f"{message} ({known.meaning}: {known.action})"
