"""`forwarder check` and `forwarder stats` as an operator runs them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from forwarder.cli import main
from tests.configs import example_config


def _config(tmp_path: Path, extra: str = "") -> Path:
    store = {'url = "sqlite:///forwarder.db"': f'url = "sqlite:///{tmp_path / "f.db"}"'}
    return example_config(tmp_path, replace=store, extra=extra)


def test_check_accepts_the_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(_config(tmp_path))]) == 0
    assert capsys.readouterr().out.startswith("ok: 1 source(s), 1 destination(s), 4 mapping table(s)")


def test_check_names_file_key_and_reason_of_a_bad_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    (tmp_path / "mappings" / "default.toml").write_text("[events]\nSTART_TRIAL = 5\n")
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert f"error: {tmp_path / 'mappings' / 'default.toml'}: events.START_TRIAL: must be a TikTok event name" in out


def test_check_flags_names_invalid_for_the_event_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(
        tmp_path,
        '\n[destinations.site]\nevent_source = "web"\nevent_source_id = "C4PIX"\n'
        'access_token = "t"\nmapping = "default"\npage_url = "https://example.com"\n',
    )
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert (
        "events.REGISTRATION: 'Registration' is not a web standard event (destination 'site'); "
        "use 'CompleteRegistration'" in out
    )


def test_check_reports_settings_errors_by_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, '\n[destinations.bad]\nevent_source = "tv"\nevent_source_id = "1"\naccess_token = "t"\n')
    assert main(["check", "--config", str(config)]) == 1
    assert "destinations.bad.event_source" in capsys.readouterr().out


def test_check_reports_toml_syntax_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("[server\nport = 1\n")
    assert main(["check", "--config", str(config)]) == 1
    assert "invalid TOML" in capsys.readouterr().out


def test_stats_without_a_store_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--config", str(_config(tmp_path))]) == 1
    assert "no store at" in capsys.readouterr().err


def test_check_warns_on_deprecated_and_errs_on_wrong_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(
        tmp_path,
        '\n[destinations.site]\nevent_source = "web"\nevent_source_id = "C4PIX"\n'
        'access_token = "t"\nmapping = "legacy"\npage_url = "https://example.com"\n',
    )
    (tmp_path / "mappings" / "legacy.toml").write_text(
        '[events]\nPURCHASE = "CompletePayment"\nOPEN = "LaunchApp"\nLEVEL = "LevelUp"\n'
    )
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    legacy = tmp_path / "mappings" / "legacy.toml"
    assert f"warning: {legacy}: events.PURCHASE: 'CompletePayment' is deprecated for web events; use 'Purchase'" in out
    assert f"error: {legacy}: events.OPEN: 'LaunchApp' is not a web standard event" in out
    assert f"warning: {legacy}: events.LEVEL: 'LevelUp' is a custom event for web destination 'site'" in out


def test_check_catches_a_case_slip_for_the_same_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    (tmp_path / "mappings" / "default.toml").write_text('[events]\nOPEN = "LaunchApp"\nIMPR = "InAppAdImpr"\n')
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "error: " in out and "events.OPEN: 'LaunchApp' is not an app standard event" in out
    assert "use 'LaunchAPP'" in out
    assert (
        "events.IMPR: 'InAppAdImpr' is not an app standard event (destination 'demo_app_events'); "
        "use 'InAppADImpr'" in out
    )


def test_reload_says_when_the_service_cannot_be_reached(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    assert main(["reload", "--config", str(config), "--url", "http://127.0.0.1:9"]) == 1
    assert "cannot reach the service at http://127.0.0.1:9/v1/admin/reload" in capsys.readouterr().err


def test_check_names_a_one_sided_or_unknown_order_dedup_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = '\n[sources.rc]\nkeys = ["rc-key"]\nkind = "revenuecat"\ndedup_orders_with = ["demo_app"]\n'
    assert main(["check", "--config", str(_config(tmp_path, extra))]) == 0
    assert (
        "warning: config: sources.rc.dedup_orders_with: names 'demo_app', which does not name 'rc': an order 'rc' "
        "reports first is sent again when 'demo_app' reports it" in capsys.readouterr().out
    )
    unknown = _config(tmp_path / "unknown", extra.replace('["demo_app"]', '["nobody"]'))
    assert main(["check", "--config", str(unknown)]) == 1
    assert "sources.rc.dedup_orders_with: names unknown source 'nobody'" in capsys.readouterr().out


def test_conflicts_list_and_release_a_held_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import json

    from forwarder.store import IngestWrite, OrderClaim, OutboxItem, SQLiteStore, Stored

    config = _config(tmp_path)

    async def conflict() -> list[Stored]:
        store = SQLiteStore(tmp_path / "f.db")
        await store.open()
        try:
            results = []
            for event_id, value in (("sdk-1", 4.99), ("sdk-2", 9.99)):
                write = IngestWrite(
                    [OutboxItem("demo_app_events", "Purchase", event_id, b"{}")],
                    orders=[OrderClaim(0, "T-7", "demo_app", ("demo_app",), value, "USD")],
                )
                results += await store.enqueue(write, time.time())
            return results
        finally:
            await store.close()

    assert asyncio.run(conflict()) == [Stored.NEW, Stored.HELD]
    assert main(["conflicts", "list", "--config", str(config)]) == 0
    [held] = json.loads(capsys.readouterr().out)["conflicts"]
    assert (held["order_id"], held["event_id"], held["status"]) == ("T-7", "sdk-2", "held")
    assert main(["conflicts", "release", str(held["id"]), "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out) == {"released": True}
    assert main(["conflicts", "release", str(held["id"]), "--config", str(config)]) == 1  # already released


def test_check_flags_two_rules_that_match_one_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    table = tmp_path / "mappings" / "default.toml"
    table.write_text(table.read_text() + 'StartTrial = "Subscribe"\n')
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert f"error: {table}: events.StartTrial: events.START_TRIAL and events.StartTrial match the same" in out
