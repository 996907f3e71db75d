"""Prometheus gauges per audience, refreshed from the store at each scrape (every replica reports the same)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from .report import FIGURES


class AudienceGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.users = Gauge(
            "forwarder_audience_users",
            "Users per audience by figure: entered, synced, not_synced, pending, errored, members, waiting, sent",
            ["audience", "figure"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.size = Gauge(
            "forwarder_audience_size",
            "Matched users TikTok reports (absent below 1,000, which TikTok hides)",
            ["audience"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.problem = Gauge(
            "forwarder_audience_problem",
            "1 while the audience has a problem (its name is the label), else 0",
            ["audience", "problem"],
            registry=registry,
            multiprocess_mode="mostrecent",
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
