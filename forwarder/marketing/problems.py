"""The documented set of Marketing API failures, each with its cause and what to do (README "Audiences").

TikTok answers business errors with HTTP 200 and a non-zero `code` (digest §7); audience-specific codes are not
published, so an answer is classed by its code first and, for 40002, by what its message names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    name: str
    cause: str
    fix: str
    retry: bool  # transient: retried with backoff until the horizon
    pauses: bool  # the credential or the advertiser is refused: pause and probe, as event destinations do


PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in (
        Problem(
            "connection_expired",
            "the Marketing API token has expired (TikTok code 40102)",
            "connect TikTok again on the status page, or set a new FORWARDER_MARKETING__ACCESS_TOKEN",
            retry=False,
            pauses=True,
        ),
        Problem(
            "invalid_connection",
            "TikTok refuses the token: it was revoked, or the admin who granted it lost access (40104, 40105)",
            "connect TikTok again on the status page with an admin of the ad account",
            retry=False,
            pauses=True,
        ),
        Problem(
            "missing_permission",
            "the token may not act for this advertiser, or lacks the audience or reporting scope (40001)",
            "grant the developer app the Audience and Reporting permissions, and the user Admin or Operator "
            "on the ad account; then connect again",
            retry=False,
            pauses=True,
        ),
        Problem(
            "invalid_parameters",
            "TikTok refused a field of the request (40002)",
            "check the audience definition (advertiser_id, audience_id, name); the message names the field",
            retry=False,
            pauses=False,
        ),
        Problem(
            "incorrect_data_format",
            "TikTok refused the identifiers' format: ids must be lower-case SHA-256 aligned with id_schema",
            "report it: the forwarder hashes identifiers itself; the request_id lets TikTok support find it",
            retry=False,
            pauses=False,
        ),
        Problem(
            "audience_not_found",
            "the audience no longer exists in TikTok (deleted in Ads Manager, or expired after 12 months unused)",
            "set recreate_if_deleted = true to make a new one, or give another audience_id",
            retry=False,
            pauses=False,
        ),
        Problem(
            "audience_limit_reached",
            "the advertiser holds 400 custom audiences, TikTok's limit",
            "delete unused audiences in TikTok Ads Manager, then `forwarder audiences retry NAME`",
            retry=False,
            pauses=False,
        ),
        Problem(
            "rate_limited",
            "TikTok's request rate for the app or token was exceeded (40100)",
            "nothing: retried with backoff; lower marketing.requests_per_s if it persists",
            retry=True,
            pauses=False,
        ),
        Problem(
            "audience_not_ready",
            "the audience was created moments ago and TikTok does not take mappings yet",
            "nothing: retried until TikTok accepts them (a minute or two)",
            retry=True,
            pauses=False,
        ),
        Problem(
            "internal_error",
            "TikTok failed (HTTP 5xx, a timeout, 50000 or 60001 maintenance)",
            "nothing: retried with backoff until the retry horizon; then the users count as errored",
            retry=True,
            pauses=False,
        ),
    )
}


def classify(code: int | None, message: str, http_status: int | None = 200) -> Problem:
    """The problem a refused answer is (a code of None: no usable answer, e.g. a timeout)."""
    text = message.lower()
    if code is None or (http_status is not None and http_status >= 500) or code in (50000, 50002, 60001):
        return PROBLEMS["internal_error"]
    if code == 40100 or http_status == 429:
        return PROBLEMS["rate_limited"]
    if code == 40102:
        return PROBLEMS["connection_expired"]
    if code in (40104, 40105):
        return PROBLEMS["invalid_connection"]
    if code == 40001:
        return PROBLEMS["missing_permission"]
    if "not ready" in text or "not available yet" in text:
        return PROBLEMS["audience_not_ready"]
    if "audience" in text and any(w in text for w in ("not exist", "not found", "deleted", "does not belong")):
        return PROBLEMS["audience_not_found"]
    if "audience" in text and ("limit" in text or "already has" in text):
        return PROBLEMS["audience_limit_reached"]
    if any(w in text for w in ("id_schema", "sha256", "hash", "format")):
        return PROBLEMS["incorrect_data_format"]
    return PROBLEMS["invalid_parameters"]
