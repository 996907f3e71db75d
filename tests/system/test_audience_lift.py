"""Past-behaviour audiences, control groups and lift on real processes: `forwarder serve` (one, restarted, or three
replicas on PostgreSQL) with a `forwarder emulate` as TikTok; activity seeded by posting events as an app does; the
members TikTok ends with checked user by user against the rule and the keyed hash, and the status page's lift
section read in headless Chromium against `GET /v1/audiences/{name}/performance`."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from forwarder.audiences.assignment import assign
from forwarder.store.sqlite.writer.holdout import audience_secret
from tests.audience_processes import (
    ADMIN,
    ADMIN_AUTH,
    ADVERTISER,
    audience,
    audience_config,
    emulator,
    hashed,
    ledger_key,
    post,
    ready_at_once,
    service,
    tiktok_members,
    users_ever_sent,
    wait_for,
    wait_settled,
)
from tests.browser import browser_tab
from tests.postgres import postgres_database
from tests.processes import free_port

pytestmark = pytest.mark.slow
DAY = 86400.0
EVERY = "every 0.05m"  # a run every 3 s: the next run comes quickly enough to watch


def buyers(holdout_share: float = 0.0, goal: str = "") -> str:
    """Bought at least twice for at least 50 in the last 30 days, and never refunded in that time."""
    E = EVERY  # short, for the line's sake
    return f"""
[audiences.buyers]
advertiser_id = "{ADVERTISER}"
identifiers = ["email"]
past = {{ did = "PURCHASE", at_least = 2, value_at_least = 50, within_days = 30, not_did = "REFUND", schedule = "{E}" }}
holdout_share = {holdout_share}
{goal}
"""


def control_of(name: str, users: range, share: float) -> set[int]:
    """Who the keyed hash holds out, computed here from the users' ledger keys."""
    keys = {ledger_key(i): i for i in users}
    return {keys[k] for k in assign(audience_secret(name, None), name, keys, control_share=share).control}


def run_after(base: str, name: str, after: float, timeout_s: float = 30) -> dict[str, Any]:
    """The summary of the first run that started after `after` (so it read everything posted before)."""

    def ran() -> dict[str, Any] | None:
        run = audience(base, name)["past_run"]
        return run if run and run["at"] > after else None

    found: dict[str, Any] = wait_for(ran, f"no run of {name} after {after}", timeout_s)
    return found


def seed_buyers(base: str, users: range, now: float) -> None:
    """Each of `users` buys twice for 30 (5 days and 1 day ago): 60 in all, so they qualify."""
    post(base, "PURCHASE", users, now - 5 * DAY, value=30, tag="a")
    post(base, "PURCHASE", users, now - DAY, value=30, tag="b")


def test_a_past_rule_over_seeded_activity_syncs_exactly_its_members_and_follows_behaviour(tmp_path: Path) -> None:
    port, emulator_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    config = audience_config(
        tmp_path, port, f"sqlite:///{tmp_path / 'forwarder.db'}", emulator=f"http://127.0.0.1:{emulator_port}",
        audiences=buyers(),
    )  # fmt: skip
    with emulator(tmp_path, emulator_port) as tiktok, service(tmp_path, port, config):
        ready_at_once(tiktok)
        now = time.time()
        seed_buyers(base, range(50), now)  # 0-49 qualify ...
        post(base, "REFUND", range(5), now - DAY, tag="r")  # ... but 0-4 refunded
        post(base, "PURCHASE", range(50, 60), now - 2 * DAY, value=100)  # once only: not enough times
        post(base, "PURCHASE", range(60, 70), now - 3 * DAY, value=10, tag="a")  # twice, but 20 in all
        post(base, "PURCHASE", range(60, 70), now - 2 * DAY, value=10, tag="b")
        seeded = time.time()
        run = run_after(base, "buyers", seeded)
        assert (run["qualifying"], run["members"], run["control"]) == (45, 45, 0)
        document = wait_settled(base, 45, name="buyers")
        assert tiktok_members(tiktok, document["tiktok_audience_id"]) == {hashed(i) for i in range(5, 50)}

        # Behaviour changes: 50-59 buy again (twice now, 101), 5-9 refund. The next run follows.
        post(base, "PURCHASE", range(50, 60), now, value=1, tag="again")
        post(base, "REFUND", range(5, 10), now, tag="r")
        changed = time.time()
        run = run_after(base, "buyers", changed)
        assert (run["qualifying"], run["entered"], run["left"]) == (50, 10, 5)
        document = wait_settled(base, 50, name="buyers")
        assert tiktok_members(tiktok, document["tiktok_audience_id"]) == {hashed(i) for i in range(10, 60)}
        assert document["left"]["exited"] == 5 and document["synced"] == 50
        assert users_ever_sent(tiktok) == {"add": 55, "delete": 5}


def test_the_control_group_is_stable_across_a_restart_and_never_synced(tmp_path: Path) -> None:
    port, emulator_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    config = audience_config(
        tmp_path, port, f"sqlite:///{tmp_path / 'forwarder.db'}", emulator=f"http://127.0.0.1:{emulator_port}",
        audiences=buyers(holdout_share=0.3),
    )  # fmt: skip
    control = control_of("buyers", range(200), 0.3)
    members = {hashed(i) for i in range(200) if i not in control}
    assert 30 < len(control) < 90  # the draw is a share, not a fixed count
    with emulator(tmp_path, emulator_port) as tiktok:
        ready_at_once(tiktok)
        with service(tmp_path, port, config):
            seed_buyers(base, range(200), time.time())
            run = run_after(base, "buyers", time.time())
            assert (run["qualifying"], run["control"]) == (200, len(control))
            before = wait_settled(base, len(members), name="buyers")
            assert before["held_out"] == len(control) and before["synced"] == len(members)
            assert tiktok_members(tiktok, before["tiktok_audience_id"]) == members
        restarted = time.time()
        with service(tmp_path, port, config):
            run = run_after(base, "buyers", restarted)  # a run by the new process, over the same activity
            assert (run["control"], run["entered"], run["left"]) == (len(control), 0, 0)
            after = wait_settled(base, len(members), name="buyers")
            assert after["held_out"] == len(control) and after["tiktok_audience_id"] == before["tiktok_audience_id"]
            assert tiktok_members(tiktok, after["tiktok_audience_id"]) == members
        # Never sent at all: TikTok received exactly the members' adds, and nothing else, over both lives.
        assert users_ever_sent(tiktok) == {"add": len(members)}


LIVE_WITH_HOLDOUT = f"""
[audiences.trials]
advertiser_id = "{ADVERTISER}"
identifiers = ["email"]
enter = {{ event = "START_TRIAL" }}
holdout_share = 0.25
"""


def past_runs(logs: list[Path]) -> list[tuple[int, dict[str, Any]]]:
    """Every `audience.past_run` each replica logged: (replica, line)."""
    runs = []
    for n, log in enumerate(logs):
        for line in log.read_text().splitlines():
            if line.startswith("{") and '"audience.past_run"' in line:
                runs.append((n, json.loads(line)))
    return runs


def test_three_replicas_on_postgresql_apply_each_run_once_and_hold_out_the_same_users(tmp_path: Path) -> None:
    with postgres_database() as store, contextlib.ExitStack() as stack:
        emulator_port = free_port()
        tiktok = stack.enter_context(emulator(tmp_path, emulator_port))
        ready_at_once(tiktok)
        bases, logs = [], []
        for n in range(3):
            home, port = tmp_path / f"replica-{n}", free_port()
            home.mkdir()
            config = audience_config(
                home, port, store, emulator=tiktok, audiences=buyers(holdout_share=0.3) + LIVE_WITH_HOLDOUT
            )
            stack.enter_context(service(home, port, config))
            bases.append(f"http://127.0.0.1:{port}")
            logs.append(home / "serve.log")
        now = time.time()
        for n, base in enumerate(bases):  # each replica receives a third of the users
            seed_buyers(base, range(n, 300, 3), now)
            post(base, "START_TRIAL", range(n, 300, 3), now)
        seeded = time.time()
        past_control = control_of("buyers", range(300), 0.3)
        live_control = control_of("trials", range(300), 0.25)
        run_after(bases[0], "buyers", seeded)
        past = wait_settled(bases[1], 300 - len(past_control), name="buyers")
        live = wait_settled(bases[2], 300 - len(live_control), name="trials")
        for base in bases:  # one ledger: every replica says the same
            assert audience(base, "buyers")["held_out"] == len(past_control)
            assert audience(base, "trials")["held_out"] == len(live_control)
        assert tiktok_members(tiktok, past["tiktok_audience_id"]) == {
            hashed(i) for i in range(300) if i not in past_control
        }
        assert tiktok_members(tiktok, live["tiktok_audience_id"]) == {
            hashed(i) for i in range(300) if i not in live_control
        }

        # Runs go on, by whichever replica comes first: each applied once, following the one before, none moving
        # anybody, so whichever replica computed the hold-out, it was the same.
        wait_for(
            lambda: len({n for n, line in past_runs(logs) if line["at"] > seeded}) >= 2, "one replica ran", timeout_s=60
        )
        runs = sorted((line for _, line in past_runs(logs)), key=lambda line: line["at"])
        assert [line["after"] for line in runs[1:]] == [line["at"] for line in runs[:-1]]  # a chain: none twice
        complete = [line for line in runs if line["at"] > seeded]  # runs that read every user's activity
        assert all(line["control"] == len(past_control) and line["qualifying"] == 300 for line in complete)
        assert all(line["entered"] == line["left"] == 0 for line in complete[1:])
        assert users_ever_sent(tiktok) == {"add": 600 - len(past_control) - len(live_control)}


def test_the_lift_section_in_chromium_says_what_the_performance_api_says(tmp_path: Path) -> None:
    port, emulator_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    goal = 'goal = { event = "SUBSCRIBE", within_days = 0.0002 }'  # a 17 s window: matured within the test
    config = audience_config(
        tmp_path, port, f"sqlite:///{tmp_path / 'forwarder.db'}", emulator=f"http://127.0.0.1:{emulator_port}",
        audiences=buyers(holdout_share=0.5, goal=goal),
    )  # fmt: skip
    control = control_of("buyers", range(100), 0.5)
    with emulator(tmp_path, emulator_port) as tiktok, service(tmp_path, port, config):
        ready_at_once(tiktok)
        seed_buyers(base, range(100), time.time())
        run_after(base, "buyers", time.time())
        wait_settled(base, 100 - len(control), name="buyers")
        converted = [i for i in range(0, 100, 2) if i not in control] + [i for i in range(0, 100, 5) if i in control]
        post(base, "SUBSCRIBE", converted, time.time() + 1, value=10)

        def performance() -> dict[str, Any]:
            answer = httpx.get(f"{base}/v1/audiences/buyers/performance", headers=ADMIN_AUTH, timeout=10)
            assert answer.status_code == 200, answer.text
            document: dict[str, Any] = answer.json()
            return document

        page_url = f"http://admin:{ADMIN}@127.0.0.1:{port}/"  # the admin token as a browser sends it
        with browser_tab(tmp_path / "chromium") as tab:
            # Inside the window: not enough data yet, and the page says so with the same counts.
            early = performance()
            assert early["status"] == "not_enough_data" and early["members"]["users"] < 20
            tab.open(page_url, ready="document.querySelector('[data-lift=\"buyers\"]') !== null")
            shown = tab.evaluate("document.querySelector('[data-lift=\"buyers\"]').dataset.liftStatus")
            text = tab.evaluate("document.querySelector('[data-lift=\"buyers\"]').textContent")
            assert shown == "not_enough_data" and "not enough data yet" in text

            def matured() -> dict[str, Any] | None:  # every window has ended: nothing moves any more
                document = performance()
                done = document["status"] == "ready" and document["members"]["in_window"] == 0
                return document if done and document["control"]["in_window"] == 0 else None

            late: dict[str, Any] = wait_for(matured, "lift never ready", timeout_s=40)
            tab.open(page_url, ready="document.querySelector('[data-lift=\"buyers\"]') !== null")
            page = tab.evaluate("""(() => {
                const lift = document.querySelector('[data-lift="buyers"]');
                const funnel = document.querySelector('[data-funnel="buyers"]');
                const n = (el, s) => Number(el.querySelector(s).textContent);
                return {status: lift.dataset.liftStatus,
                        difference: lift.querySelector('[data-lift-difference]').textContent,
                        low: lift.querySelector('[data-lift-low]').textContent,
                        high: lift.querySelector('[data-lift-high]').textContent,
                        sent: n(funnel, '[data-funnel-sent]'), converted: n(funnel, '[data-funnel-converted]'),
                        held_out: n(funnel, '[data-funnel-held-out]'),
                        held_out_converted: n(funnel, '[data-funnel-held-out-converted]'),
                        charts: [...document.querySelectorAll('[data-trend="buyers"]')].map(f => f.dataset.period)};
            })()""")  # fmt: skip
        members_converted = len([i for i in converted if i not in control])
        assert (
            late["members"]["converted"] == members_converted
            and late["control"]["converted"] == len(converted) - members_converted
        )
        assert page["status"] == "ready"
        assert page["difference"] == f"{late['rate_difference']['value'] * 100:.2f}%"
        assert page["low"] == f"{late['rate_difference']['low'] * 100:.2f}%"
        assert page["high"] == f"{late['rate_difference']['high'] * 100:.2f}%"
        assert (page["sent"], page["converted"]) == (late["funnel"]["sent"], late["funnel"]["converted"])
        assert (page["held_out"], page["held_out_converted"]) == (
            late["funnel"]["held_out"], late["funnel"]["held_out_converted"],
        )  # fmt: skip
        assert (page["sent"], page["held_out"]) == (100 - len(control), len(control))
        assert sorted(page["charts"]) == sorted(late["trends"])
        metrics = httpx.get(f"{base}/metrics", headers=ADMIN_AUTH, timeout=10).text
        difference = late["rate_difference"]["value"]
        assert f'forwarder_audience_lift{{audience="buyers",figure="difference"}} {difference}' in metrics
        assert f'forwarder_audience_users{{audience="buyers",figure="held_out"}} {float(len(control))}' in metrics
