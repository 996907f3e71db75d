"""The ingest benchmark's table: per row, the trial with the median ratio to the durable outbox, and with several
trials the spread (lowest-highest) of our events/s and of both ratios."""

from __future__ import annotations

from dataclasses import dataclass

from baselines import Measured


@dataclass
class Trial:
    """The three servers measured back to back under one load: ours, the durable outbox, bare Starlette."""

    ours: Measured
    durable: Measured
    bare: Measured

    @property
    def to_durable(self) -> float:
        return self.ours.result.requests_s / self.durable.result.requests_s

    @property
    def to_bare(self) -> float:
        return self.ours.result.requests_s / self.bare.result.requests_s


@dataclass
class Row:
    workers: int
    events: int
    delivery: bool
    trials: list[Trial]

    @property
    def median(self) -> Trial:
        return sorted(self.trials, key=lambda trial: trial.to_durable)[len(self.trials) // 2]


def _spread(values: list[float], digits: int) -> str:
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def print_table(rows: list[Row], *, seconds: int, connections: int, repeat: int) -> None:
    print(
        f"ingest, wrk -t1 -c{connections} -d{seconds}s on the same machine; delivery on = the service delivering to a "
        "separate `forwarder emulate` process at 0 ms latency"
        + (f"; median of {repeat} trials by ratio to the durable outbox, spread below each row" if repeat > 1 else "")
    )
    print(
        f"{'workers':>7} {'ev/req':>6} {'delivery':>8} | {'ours req/s':>10} {'ev/s':>7} {'p50 ms':>6} {'p99 ms':>6} "
        f"{'errors':>6} {'RSS MB':>6} {'delivered':>9} | {'durable ev/s':>12} {'p99 ms':>6} | {'bare ev/s':>9} | "
        f"{'/durable':>8} {'/bare':>5} | stored (ours, durable)"
    )
    for row in rows:
        trial = row.median
        ours, durable, bare = trial.ours, trial.durable.result, trial.bare.result
        delivered = "-" if ours.delivered is None else str(ours.delivered)
        print(
            f"{row.workers:>7} {row.events:>6} {'on' if row.delivery else 'off':>8} | {ours.result.requests_s:>10.0f} "
            f"{ours.result.requests_s * row.events:>7.0f} {ours.result.p50_ms:>6.1f} {ours.result.p99_ms:>6.1f} "
            f"{ours.result.errors:>6} {ours.rss_mb:>6.0f} {delivered:>9} | {durable.requests_s * row.events:>12.0f} "
            f"{durable.p99_ms:>6.1f} | {bare.requests_s * row.events:>9.0f} | {trial.to_durable:>8.2f} "
            f"{trial.to_bare:>5.2f} | {ours.stored}, {trial.durable.stored}"
        )
        print(f"{'':>24} {_cpu_line(trial)}")
        if len(row.trials) > 1:
            events_s = [t.ours.result.requests_s * row.events for t in row.trials]
            print(
                f"{'':>24} spread over {len(row.trials)}: ours {_spread(events_s, 0)} ev/s, "
                f"/durable {_spread([t.to_durable for t in row.trials], 2)}, "
                f"/bare {_spread([t.to_bare for t in row.trials], 2)}"
            )


def _cpu_line(trial: Trial) -> str:
    """Where the machine's CPU went, per event posted: two cores are shared by the load, the server and (with
    delivery on) the TikTok stand-in, so these, not the code's cost alone, bound the events per second."""
    ours = f"cpu us/event: ours {trial.ours.cpu_us:.0f}"
    if trial.ours.emulator_cpu_us is not None:
        ours += f" (+ emulator {trial.ours.emulator_cpu_us:.0f})"
    return f"{ours}, durable {trial.durable.cpu_us:.0f}, bare {trial.bare.cpu_us:.0f}"
