"""Prometheus metrics for one service instance, in its own registry. Labels are bounded: destination, source,
reason, TikTok code, the first NAME_LABELS inbound event names; never event ids."""

from __future__ import annotations

import calendar
import math
import os
from collections import Counter as Counter_
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

from .store import NotForwarded, Resolution, State, Stored
from .worker_env import METRICS_DIR

# prometheus_client's multiprocess mode: each worker writes its values to files in this directory.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NAME_LABELS = 100  # inbound event names given a label of their own, per process
OTHER_NAMES = "(other)"
_LAG_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


def store_gauge(name: str, documentation: str, labels: list[str], registry: CollectorRegistry) -> Gauge:
    """A gauge set from the store by whichever worker answers the scrape: with several workers, the latest wins."""
    return Gauge(name, documentation, labels, registry=registry, multiprocess_mode="mostrecent")


def _queue_gauge(name: str, documentation: str, registry: CollectorRegistry) -> Gauge:
    return store_gauge(name, documentation, ["destination"], registry)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.received = Counter("forwarder_events_received", "Events posted, valid or not", ["source"], registry=r)
        self.rejected = Counter(
            "forwarder_events_rejected",
            "Events rejected at ingest, by the first field named",
            ["source", "field"],
            registry=r,
        )
        self.accepted = Counter("forwarder_events_accepted", "Events stored for delivery", ["destination"], registry=r)
        self.duplicates = Counter(
            "forwarder_events_duplicates", "Events already seen within the dedup window", ["destination"], registry=r
        )
        self.order_duplicates = Counter(
            "forwarder_order_duplicates",
            "Reports of an order dropped because a source they dedup with reported it first, the same",
            ["destination"],
            registry=r,
        )
        self.order_conflicts = Counter(
            "forwarder_order_conflicts",
            "Reports of an order held because an earlier report differs (value, currency or TikTok event)",
            ["destination"],
            registry=r,
        )
        self.dropped = Counter(
            "forwarder_events_dropped",
            "Events not sent to a destination (unmapped, filtered, denied, no_lead_id)",
            ["destination", "reason"],
            registry=r,
        )
        self.not_forwarded = Counter(
            "forwarder_events_not_forwarded",
            f"Events accepted and sent nowhere, by inbound name (the first {NAME_LABELS} names; then {OTHER_NAMES!r})",
            ["event", "reason"],
            registry=r,
        )
        self._name_labels: set[str] = set()
        self.delivered = Counter(
            "forwarder_events_delivered", "Events TikTok accepted (code 0)", ["destination"], registry=r
        )
        self.retried = Counter(
            "forwarder_events_retried",
            "Event attempts that will be retried",
            ["destination", "tiktok_code"],
            registry=r,
        )
        self.failed = Counter(
            "forwarder_events_failed", "Events given up on", ["destination", "tiktok_code"], registry=r
        )
        self.partial = Counter(
            "forwarder_events_partial",
            "Events settled by a partial answer (20001): delivered or refused",
            ["destination", "outcome"],
            registry=r,
        )
        self.pending = _queue_gauge("forwarder_pending_events", "Events waiting for delivery", r)
        self.in_flight = _queue_gauge("forwarder_in_flight_events", "Events being sent", r)
        self.oldest_pending = _queue_gauge(
            "forwarder_oldest_pending_age_seconds", "Age of the oldest undelivered event", r
        )
        self.held = _queue_gauge("forwarder_held_events", "Conflicting order reports held for an operator", r)
        self.paused = _queue_gauge(
            "forwarder_destination_paused", "1 while TikTok refuses the destination's credentials", r
        )
        self.dead = _queue_gauge("forwarder_dead_letters", "Events given up on and not replayed (dead letters)", r)
        # TikTok's report for each advertiser's latest complete day (README "Reporting and KPIs"); NaN: no value.
        self.report_day = store_gauge(
            "forwarder_report_latest_complete_day", "Its start (Unix time, UTC date)", ["advertiser_id"], r
        )
        self.report_figure = store_gauge(
            "forwarder_report_figure", "TikTok's sums (and forwarded revenue)", ["advertiser_id", "metric"], r
        )
        self.report_kpi = store_gauge("forwarder_report_kpi", "KPIs of that day", ["advertiser_id", "kpi"], r)
        self.reloads = Counter(
            "forwarder_config_reloads",
            "Reload attempts by outcome: applied, invalid (files refused) or would_stop_mapping",
            ["trigger", "outcome"],
            registry=r,
        )
        self.reload_refused = Gauge(
            "forwarder_config_last_reload_refused",
            "1 while the latest reload was refused (the previous config keeps serving)",
            registry=r,
            multiprocess_mode="max",  # any worker that refused
        )
        self.marketing_connection = Gauge(
            "forwarder_marketing_connection_state",
            "1 for the Marketing API connection's state now (connected, expired, revoked, ...), 0 for the others",
            ["state"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.ingest_latency = Histogram(
            "forwarder_ingest_request_seconds",
            "POST /v1/events handling time, commit included",
            ["status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.request_latency = Histogram(
            "forwarder_delivery_request_seconds",
            "Events API request time",
            ["destination"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.delivery_lag = Histogram(
            "forwarder_event_delivery_lag_seconds",
            "From stored to delivered",
            ["destination"],
            buckets=_LAG_BUCKETS,
            registry=r,
        )

        self._stored_metric = {
            Stored.NEW: self.accepted,
            Stored.DUPLICATE: self.duplicates,
            Stored.ORDER_DUPLICATE: self.order_duplicates,
            Stored.HELD: self.order_conflicts,
        }

    def count_ingest(
        self,
        source: str,
        received: int,
        rejected: Counter_[str],
        dropped: Counter_[tuple[str, str]],
        stored: Counter_[tuple[str, Stored]],
    ) -> None:
        """One request's ingest counters: rejected by field, dropped by (destination, reason), and stored by
        (destination, what the store did with the item)."""
        self._child(self.received, source).inc(received)
        for field, count in rejected.items():
            self._child(self.rejected, source, field).inc(count)
        for (destination, reason), count in dropped.items():
            self._child(self.dropped, destination, reason).inc(count)
        for (destination, what), count in stored.items():
            self._child(self._stored_metric[what], destination).inc(count)

    def count_not_forwarded(self, rows: Sequence[NotForwarded]) -> None:
        """Events sent nowhere by name; names come from clients, so only the first NAME_LABELS get a label."""
        for row in rows:
            if row.event not in self._name_labels and len(self._name_labels) < NAME_LABELS:
                self._name_labels.add(row.event)
            name = row.event if row.event in self._name_labels else OTHER_NAMES
            self._child(self.not_forwarded, name, row.reason).inc(row.events)

    def observe_ingest(self, status: int, seconds: float) -> None:
        self._child(self.ingest_latency, str(status)).observe(seconds)

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, remembered: labels() costs more than the increment on the ingest path.
        Label values are bounded (sources, destinations, reasons, field names, status codes)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def record_resolutions(self, destination: str, resolutions: list[Resolution], lags_s: list[float]) -> None:
        for resolution in resolutions:
            code = str(
                resolution.outcome.code
                if resolution.outcome.code is not None
                else f"http_{resolution.outcome.http_status}"
                if resolution.outcome.http_status
                else "transport"
            )
            count = len(resolution.ids)
            if resolution.outcome.partial:  # a partial answer is never counted as a plain success
                settled = "delivered" if resolution.state == State.DELIVERED else "refused"
                self.partial.labels(destination, settled).inc(count)
            if resolution.state == State.DELIVERED:
                self.delivered.labels(destination).inc(count)
            elif resolution.state == State.FAILED:
                self.failed.labels(destination, code).inc(count)
            else:
                self.retried.labels(destination, code).inc(count)
        if lags_s:
            # One label lookup per pass, not per event: a full batch is 1,000 observations.
            lag = self.delivery_lag.labels(destination)
            for seconds in lags_s:
                lag.observe(seconds)

    def refresh_queue(self, stats: dict[str, Any]) -> None:
        """Set the queue gauges from the store's per-destination stats."""
        for name, figures in stats["destinations"].items():
            self.pending.labels(name).set(figures.get("pending", 0))
            self.in_flight.labels(name).set(figures.get("in_flight", 0))
            self.oldest_pending.labels(name).set(figures.get("oldest_pending_age_s") or 0)
            self.paused.labels(name).set(1 if figures.get("paused") else 0)
            self.held.labels(name).set(figures.get("held", 0))
            self.dead.labels(name).set(figures.get("dead", 0))

    def refresh_reports(self, latest: dict[str, dict[str, Any]]) -> None:
        """Set the report gauges from reporting/gauges.py: per advertiser its day, figures and KPIs."""
        for advertiser, values in latest.items():
            day = values["day"]
            self.report_day.labels(advertiser).set(calendar.timegm(day.timetuple()))
            for name, value in values["figures"].items():
                self.report_figure.labels(advertiser, name).set(math.nan if value is None else float(value))
            for name, value in values["kpis"].items():
                self.report_kpi.labels(advertiser, name).set(math.nan if value is None else float(value))

    def count_reload(self, outcome: dict[str, Any]) -> None:
        """One reload attempt, as reload_config() reports it."""
        refused = outcome.get("refused")
        self.reloads.labels(outcome["trigger"], refused or "applied").inc()
        self.reload_refused.set(1 if refused else 0)

    def set_marketing_state(self, state: str, states: Sequence[str]) -> None:
        """The latest probe of the Marketing API connection: its state 1, every other one 0."""
        for name in states:
            self.marketing_connection.labels(name).set(1 if name == state else 0)

    def render(self) -> bytes:
        if METRICS_DIR in os.environ:
            # Several workers (server.workers > 1): every worker's values, summed, whichever worker is asked.
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
