"""`/_control/*`: script the Marketing API emulator's answers and read back what it holds."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .state import SCOPES, Advertiser, MarketingState, Token

_NUMBERS = ("ready_after_s", "mapping_qps", "rate_limit_per_s", "token_ttl_s")


def configure(state: MarketingState, spec: Any) -> None:
    """Apply a `/_control/script` document; every key is optional (see the package docstring)."""
    if not isinstance(spec, dict):
        raise ValueError("the script must be a JSON object")
    state.script.extend(dict(response) for response in spec.get("responses", []))
    for name in _NUMBERS:
        if name in spec:
            setattr(state, name, float(spec[name]))
    for name in ("size_threshold", "max_audiences"):
        if name in spec:
            setattr(state, name, int(spec[name]))
    state.apps.update({str(k): str(v) for k, v in dict(spec.get("apps", {})).items()})
    for item in spec.get("advertisers", []):
        advertiser = Advertiser(**{k: str(item[k]) for k in ("advertiser_id", "name", "currency", "timezone")})
        state.advertisers[advertiser.advertiser_id] = advertiser
    for token, grant in dict(spec.get("tokens", {})).items():
        scopes = set(grant.get("scopes", SCOPES))
        if not scopes <= set(SCOPES):
            raise ValueError(f"scopes must be among {', '.join(SCOPES)}")
        state.tokens[token] = Token(set(grant.get("advertiser_ids", state.advertisers)), scopes)
    state.budgets.update({str(k): int(v) for k, v in dict(spec.get("budgets", {})).items()})
    for token in spec.get("revoke_tokens", []):
        _token(state, token).revoked = True
    for token in spec.get("expire_tokens", []):
        _token(state, token).expires_at = state.clock()
    for token, scopes in dict(spec.get("drop_scopes", {})).items():
        _token(state, token).scopes -= set(scopes)
    for token, advertiser_ids in dict(spec.get("drop_advertisers", {})).items():
        _token(state, token).advertiser_ids -= set(advertiser_ids)
    for audience_id in spec.get("delete_audiences", []):
        if audience_id not in state.audiences:
            raise ValueError(f"no audience {audience_id}")
        state.audiences[audience_id].deleted = True
    for item in spec.get("restate", []):
        state.restated[(str(item["advertiser_id"]), str(item["day"]))] = float(item["factor"])


def _token(state: MarketingState, token: str) -> Token:
    if token not in state.tokens:
        raise ValueError(f"no token {token}")
    return state.tokens[token]


def snapshot(state: MarketingState) -> dict[str, Any]:
    now = state.clock()
    return {
        "audiences": [
            {
                "audience_id": a.audience_id,
                "advertiser_id": a.advertiser_id,
                "name": a.name,
                "deleted": a.deleted,
                "is_ready": now >= a.ready_at,
                "size": len(a.members),
                "history": a.history,
            }
            for a in state.audiences.values()
        ],
        "tokens": {
            token: {
                "advertiser_ids": sorted(t.advertiser_ids),
                "scopes": sorted(t.scopes),
                "revoked": t.revoked,
                "expires_at": t.expires_at,
                "app_id": t.app_id,
                "budget_left": state.budgets.get(token),
            }
            for token, t in state.tokens.items()
        },
        "settings": {name: getattr(state, name) for name in (*_NUMBERS, "size_threshold", "max_audiences")},
        "restated": [{"advertiser_id": a, "day": d, "factor": f} for (a, d), f in sorted(state.restated.items())],
        "answers": dict(state.answers),
        "requests": list(state.requests),
        "queued": len(state.script),
        "warnings": state.warnings,
    }


async def read_state(state: MarketingState, request: Request) -> Response:
    return JSONResponse(snapshot(state))


async def members(state: MarketingState, request: Request) -> Response:
    audience = state.audiences.get(request.path_params["audience_id"])
    if audience is None:
        return JSONResponse({"error": "not_found", "message": "no such audience"}, status_code=404)
    users = sorted(sorted(row) for row in audience.members)
    return JSONResponse(
        {"audience_id": audience.audience_id, "deleted": audience.deleted, "count": len(users), "users": users}
    )


async def script(state: MarketingState, request: Request) -> Response:
    try:
        configure(state, await request.json())
    except (ValueError, TypeError, KeyError) as error:
        return JSONResponse({"error": "invalid_script", "message": str(error)}, status_code=400)
    return JSONResponse({"queued": len(state.script)})


async def reset(state: MarketingState, request: Request) -> Response:
    fresh = MarketingState(clock=state.clock)
    for name in state.__dataclass_fields__:
        setattr(state, name, getattr(fresh, name))
    return Response(status_code=204)


ROUTES = [
    ("/_control/state", read_state, "GET"),
    ("/_control/audiences/{audience_id}", members, "GET"),
    ("/_control/script", script, "POST"),
    ("/_control/reset", reset, "POST"),
]
