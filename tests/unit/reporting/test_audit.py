"""The audit against TikTok's reported counts, and match-key coverage per event name."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from forwarder.reporting.audit import AuditLine, AuditThresholds, audit
from forwarder.reporting.coverage import coverage
from forwarder.reporting.forwarded import ForwardedEvent
from forwarder.reporting.rows import Figures

LA = ZoneInfo("America/Los_Angeles")
D1, D2, D3, D4 = (date(2026, 3, d) for d in (2, 3, 4, 5))


def _events(name: str, day: date, count: int, *, ack: bool = True, prefix: str = "") -> list[ForwardedEvent]:
    noon_la = datetime(day.year, day.month, day.day, 20, tzinfo=UTC)  # 12:00 PST
    return [
        ForwardedEvent(f"{prefix}{name}-{day}-{i}", name, noon_la + timedelta(seconds=i), ack) for i in range(count)
    ]


def test_far_fewer_reported_than_acknowledged_is_flagged_past_the_threshold() -> None:
    """30 acknowledged purchases; default ratio 0.2 -> fewer than 6 reported is flagged."""
    events = _events("Purchase", D1, 30) + _events("Purchase", D2, 30) + _events("Purchase", D3, 3, ack=False)
    reported = {
        D1: Figures(total_purchase=Decimal(5)),
        D2: Figures(total_purchase=Decimal(6)),
        D3: Figures(total_purchase=Decimal(0)),
    }
    assert audit(events, reported, timezone=LA) == [
        AuditLine(D1, "Purchase", "total_purchase", 30, 30, Decimal(5), ("far_fewer_reported",)),
        AuditLine(D2, "Purchase", "total_purchase", 30, 30, Decimal(6), ()),
        AuditLine(D3, "Purchase", "total_purchase", 3, 0, Decimal(0), ()),
    ]


def test_conversions_we_never_sent_are_flagged() -> None:
    """TikTok reports 3 trials on a day we sent none, and 2 purchases on a day none we sent were acknowledged."""
    events = _events("Purchase", D2, 3, ack=False)
    reported = {D1: Figures(total_start_trial=Decimal(3)), D2: Figures(total_purchase=Decimal(2))}
    assert audit(events, reported, timezone=LA) == [
        AuditLine(D1, "StartTrial", "total_start_trial", 0, 0, Decimal(3), ("reported_never_sent",)),
        AuditLine(D2, "Purchase", "total_purchase", 3, 0, Decimal(2), ("reported_never_sent",)),
    ]


def test_thresholds_are_configurable_and_small_days_are_not_flagged_by_default() -> None:
    events = _events("Subscribe", D1, 10)
    reported = {D1: Figures(total_subscribe=Decimal(1))}
    assert audit(events, reported, timezone=LA)[0].flags == ()  # 10 < min_acknowledged 20
    strict = AuditThresholds(far_fewer_ratio=Decimal("0.5"), min_acknowledged=5)
    assert audit(events, reported, timezone=LA, thresholds=strict)[0].flags == ("far_fewer_reported",)  # 1 < 5


def test_unknown_or_missing_tiktok_counts_raise_no_flag() -> None:
    events = _events("Purchase", D1, 30) + _events("Purchase", D4, 30)
    reported = {D1: Figures(total_purchase=None)}
    lines = audit(events, reported, timezone=LA)
    assert [(line.day, line.reported, line.flags) for line in lines] == [(D1, None, ()), (D4, None, ())]


def test_events_count_once_per_event_id_on_the_advertiser_day() -> None:
    """An install at 07:30 UTC on Mar 3 is 23:30 PST on Mar 2; a resent copy counts once."""
    late = ForwardedEvent("late", "InstallApp", datetime(2026, 3, 3, 7, 30, tzinfo=UTC), False)
    resent = ForwardedEvent("late", "InstallApp", datetime(2026, 3, 3, 7, 30, tzinfo=UTC), True)
    lines = audit([late, resent], {D1: Figures(app_install=Decimal(1))}, timezone=LA)
    assert lines == [AuditLine(D1, "InstallApp", "app_install", 1, 1, Decimal(1), ())]


def test_events_without_a_tiktok_metric_are_left_out() -> None:
    assert audit(_events("ViewContent", D1, 40), {D1: Figures()}, timezone=LA) == []


def test_match_key_coverage_per_event_name() -> None:
    """Four purchases (one resent) and an install: shares are of events counted once by event_id."""
    at = datetime(2026, 3, 2, 20, tzinfo=UTC)
    events = [
        ForwardedEvent("1", "Purchase", at, True, match_keys=frozenset({"email", "ip", "user_agent"})),
        ForwardedEvent("2", "Purchase", at, True, match_keys=frozenset({"phone", "ip"})),
        ForwardedEvent("3", "Purchase", at, False, match_keys=frozenset({"external_id", "idfa", "ip", "user_agent"})),
        ForwardedEvent("3", "Purchase", at, True, match_keys=frozenset({"external_id", "idfa", "ip", "user_agent"})),
        ForwardedEvent("4", "Purchase", at, True, match_keys=frozenset({"gaid", "ttclid"})),
        ForwardedEvent("5", "InstallApp", at, True),
    ]
    install, purchase = coverage(events)
    assert (install.event_name, install.events) == ("InstallApp", 1)
    assert set(install.shares.values()) == {Decimal(0)}
    assert (purchase.event_name, purchase.events) == ("Purchase", 4)
    assert purchase.shares == {
        "email": Decimal("0.25"),
        "phone": Decimal("0.25"),
        "external_id": Decimal("0.25"),
        "idfa": Decimal("0.25"),
        "gaid": Decimal("0.25"),
        "ip_user_agent": Decimal("0.5"),  # event 2 has an IP but no user agent
        "ttclid": Decimal("0.25"),
    }
