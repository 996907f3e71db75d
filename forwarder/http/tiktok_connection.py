"""The status page's "TikTok connection" section: the Marketing API credential's state, the advertisers it
reaches, the cause and fix of a bad state, and the Connect TikTok button. Never a token."""

from __future__ import annotations

from html import escape

from ..events import utc_iso
from ..marketing.authorisation import missing_settings
from ..marketing.connection import Connection
from ..marketing.health import Health
from ..runtime import Runtime
from .connect import CONNECTED_NOTICE

_SOURCES = {"connect": "connected with Connect TikTok", "config": "marketing.access_token (configuration)"}


def _advertisers(health: Health) -> str:
    if not health.advertisers:
        return "<p>No advertiser reached.</p>"
    rows = "".join(
        f'<li data-advertiser="{escape(a.advertiser_id)}">{escape(a.name or "(no name)")} '
        f"<code>{escape(a.advertiser_id)}</code></li>"
        for a in health.advertisers
    )
    return f'<p>Advertisers reached:</p><ul id="tiktok-advertisers">{rows}</ul>'


def _problem(health: Health) -> str:
    if not health.is_bad():
        return ""
    document = health.document()
    said = (
        f" TikTok said: {escape(health.message)} (code {health.tiktok_code}, request_id "
        f"<code>{escape(health.request_id or '-')}</code>)."
        if health.message
        else ""
    )
    cause = escape(document["cause"] or health.state)
    return (
        f'<div class="alert" id="tiktok-connection-problem"><strong>{cause}</strong>'
        f"<br>What to do: {escape(document['fix'] or '')}.{said}</div>"
    )


def _connect_button(connection: Connection) -> str:
    missing = missing_settings(connection.settings)
    if missing:
        return f'<p class="why" id="connect-tiktok-missing">Connect TikTok needs {escape(", ".join(missing))}.</p>'
    return (
        '<p><a class="button" id="connect-tiktok" href="/connect/tiktok">Connect TikTok</a> '
        '<span class="why">opens TikTok\'s consent page: log in as an Admin or Operator of the ad account and grant '
        "the Audience and Reporting permissions</span></p>"
    )


async def tiktok_connection_section(runtime: Runtime, query: dict[str, str]) -> str:
    """`query`: the page's query string; `tiktok=connected` after the flow, `check=tiktok` to probe now."""
    if runtime.marketing is None:
        return ""
    connection = runtime.marketing
    health = await (connection.check() if query.get("check") == "tiktok" else connection.current())
    notice = (
        '<p class="notice" id="tiktok-notice">TikTok connected.</p>' if query.get("tiktok") == CONNECTED_NOTICE else ""
    )
    since = f", since {utc_iso(health.connected_at)}" if health.connected_at else ""
    source = f" ({escape(_SOURCES[health.source])}{since})" if health.source else ""
    state = health.state.replace("_", " ")
    expires = f" Expires {utc_iso(health.expires_at)}." if health.expires_at else ""
    return f"""<h2>TikTok connection</h2>
{notice}<div id="tiktok-connection" data-state="{escape(health.state)}">
<p>Marketing API (audiences, reports): <strong id="tiktok-state">{escape(state)}</strong>{source}.
{expires} <span class="why">Checked {utc_iso(health.checked_at)}; <a href="/?check=tiktok">check now</a>.</span></p>
{_advertisers(health) if health.source else ""}{_problem(health)}{_connect_button(connection)}</div>"""
