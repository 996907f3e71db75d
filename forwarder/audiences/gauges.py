"""Prometheus gauges per audience, refreshed from the store at each scrape (every replica reports the same): the
figures (held_out and over_cap among them), TikTok's size, the problem, and for audiences with a goal the lift."""

from __future__ import annotations

import math
from typing import Any

from prometheus_client import CollectorRegistry

from ..metrics import store_gauge
from .report import FIGURES


class AudienceGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.users = store_gauge(
            "forwarder_audience_users",
            "Users per audience by figure: entered, synced, not_synced, held_out (control group), over_cap, pending, "
            "errored, members, waiting, sent",
            ["audience", "figure"],
            registry,
        )
        self.size = store_gauge(
            "forwarder_audience_size",
            "Matched users TikTok reports (absent below 1,000, which TikTok hides)",
            ["audience"],
            registry,
        )
        self.problem = store_gauge(
            "forwarder_audience_problem",
            "1 while the audience has a problem (its name is the label), else 0",
            ["audience", "problem"],
            registry,
        )
        self.conversion_rate = store_gauge(
            "forwarder_audience_conversion_rate",
            "Goal conversion rate of users whose window has ended, by group (members, control); NaN while none has",
            ["audience", "group"],
            registry,
        )
        self.lift = store_gauge(
            "forwarder_audience_lift",
            "Members' conversion rate minus the control group's (figure: difference) and its 95% interval (low, "
            "high); NaN until each group has audience_sync.lift_min_users matured users",
            ["audience", "figure"],
            registry,
        )
        self._problems: dict[str, str] = {}

    def refresh(self, documents: dict[str, dict[str, Any]]) -> None:
        for name, document in documents.items():
            for figure in FIGURES:
                self.users.labels(name, figure).set(document[figure])
            if document["size"]["now"] is not None:
                self.size.labels(name).set(document["size"]["now"])
            problem = (document["problem"] or {}).get("problem") or ""
            if name in self._problems and self._problems[name] != problem:
                self.problem.labels(name, self._problems[name]).set(0)
            if problem:
                self.problem.labels(name, problem).set(1)
            self._problems[name] = problem

    def refresh_lift(self, performances: dict[str, dict[str, Any]]) -> None:
        """From the performance documents (audiences/performance.py) of the audiences with a goal."""
        for name, document in performances.items():
            for group in ("members", "control"):
                self.conversion_rate.labels(name, group).set(_known(document[group]["conversion_rate"]))
            difference = document["rate_difference"]
            for figure, key in (("difference", "value"), ("low", "low"), ("high", "high")):
                self.lift.labels(name, figure).set(_known(difference[key]))


def _known(value: float | None) -> float:
    # NaN, not a stale number, when it cannot be computed (yet): a gauge cannot be absent in multiprocess mode.
    return math.nan if value is None else value
