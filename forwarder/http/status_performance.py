"""The status page's "Performance" section: TikTok's spend and results beside what we forwarded.

Drawn in the browser from `GET /v1/report` (static/performance.js), so the page shows exactly what the API answers
and a date range can be chosen without reloading the page (the range is kept in the address's #fragment).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

KPI_COLUMNS = (
    ("spend", "spend"),
    ("impressions", "impressions"),
    ("clicks", "clicks"),
    ("app_install", "installs"),
    ("cpi", "CPI"),
    ("ipm", "IPM"),
    ("cpm", "CPM"),
    ("cpc", "CPC"),
    ("ctr_pct", "CTR %"),
    ("click_to_install_pct", "click to install %"),
    ("conversion_rate_pct", "conversion rate %"),
    ("cpa", "CPA"),
    ("attributed_roas", "ROAS (TikTok)"),
)


@cache
def _script() -> str:
    return resources.files("forwarder").joinpath("static", "performance.js").read_text()


def performance_section() -> str:
    """The section's HTML and script; the tables and charts fill in once /v1/report answers (by default the 7 days
    through the advertiser's today, which the page then shows in its date fields)."""
    headers = "".join(f'<th data-kpi="{key}">{label}</th>' for key, label in KPI_COLUMNS)
    return f"""<h2 id="performance-title">Performance</h2>
<p class="why">TikTok's spend and results per campaign, pulled with the Marketing API credential
(<code>GET /v1/report</code> and <code>forwarder report</code> give the same figures). KPIs are computed from sums,
in each advertiser's currency; "-" is no value (nothing to divide by). Blended ROAS is revenue we forwarded that
TikTok acknowledged, per day in the advertiser's time zone, divided by spend: it counts every sale we sent, where
TikTok's ROAS counts only those it attributes to an ad.</p>
<form id="performance-range"><label>since <input type="date" id="performance-since"></label>
<label>until <input type="date" id="performance-until"></label> <button type="submit">Show</button>
<span id="performance-status"></span></form>
<table id="performance-campaigns"><thead><tr><th>advertiser</th><th>campaign</th>{headers}</tr></thead>
<tbody></tbody></table>
<p>Spend and forwarded revenue per day</p><svg id="performance-spend" width="640" height="170" role="img"></svg>
<p>ROAS over time (TikTok's attribution and blended)</p>
<svg id="performance-roas" width="640" height="170" role="img"></svg>
<p>Audit: days where TikTok reports conversions we never sent, or far fewer than it acknowledged from us</p>
<table id="performance-audit"><thead><tr><th>day</th><th>event</th><th>TikTok metric</th><th>sent</th>
<th>acknowledged</th><th>TikTok reports</th><th>flag</th></tr></thead><tbody></tbody></table>
<p>Match-key coverage: the share of forwarded events carrying each key TikTok matches on</p>
<table id="performance-coverage"><thead><tr><th>event</th><th>events</th><th>email</th>
<th>phone</th><th>external_id</th><th>IDFA</th><th>GAID</th><th>IP + user agent</th><th>ttclid</th></tr></thead>
<tbody></tbody></table>
<ul id="performance-warnings"></ul>
<script>{_script()}</script>"""
