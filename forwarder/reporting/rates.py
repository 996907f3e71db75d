"""A dated exchange-rate table the user supplies: the rate of the event's day, or the latest earlier one."""

from __future__ import annotations

import bisect
import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True)
class Rate:
    """`rate` units of `quote` buy one unit of `base` from `day` on (until a later rate)."""

    day: date
    base: str
    quote: str
    rate: Decimal


@dataclass(frozen=True)
class RateTable:
    """Rates per currency pair, looked up by day; no inverse pairs are derived, so a lookup never rounds."""

    _days: dict[tuple[str, str], list[date]] = field(default_factory=dict)
    _rates: dict[tuple[str, str], list[Decimal]] = field(default_factory=dict)

    @classmethod
    def of(cls, rates: Iterable[Rate]) -> RateTable:
        pairs: dict[tuple[str, str], dict[date, Decimal]] = {}
        for rate in rates:
            if rate.rate <= 0:
                raise ValueError(f"rate must be positive: {rate}")
            pairs.setdefault((rate.base.upper(), rate.quote.upper()), {})[rate.day] = rate.rate
        table = cls()
        for pair, by_day in pairs.items():
            days = sorted(by_day)
            table._days[pair] = days
            table._rates[pair] = [by_day[d] for d in days]
        return table

    def lookup(self, base: str, quote: str, day: date) -> Rate | None:
        """The rate in force on `day` (its own, else the latest earlier one); 1 for the same currency; else `None`."""
        base, quote = base.upper(), quote.upper()
        if base == quote:
            return Rate(day, base, quote, Decimal(1))
        days = self._days.get((base, quote), [])
        index = bisect.bisect_right(days, day) - 1
        if index < 0:
            return None
        return Rate(days[index], base, quote, self._rates[(base, quote)][index])


def load_rates(path: Path | None) -> RateTable:
    """The user's dated rate table: CSV rows `day,base,quote,rate` (a header row is allowed); none: empty."""
    if path is None:
        return RateTable()
    rates = []
    with path.open(newline="") as file:
        for number, line in enumerate(csv.reader(file), start=1):
            if not line or line[0].strip().lower() in ("day", "date") or line[0].startswith("#"):
                continue
            try:
                day, base, quote, rate = (cell.strip() for cell in line)
                rates.append(Rate(date.fromisoformat(day), base, quote, Decimal(rate)))
            except (ValueError, ArithmeticError):
                raise ValueError(
                    f"{path}:{number}: expected day,base,quote,rate such as 2026-11-01,EUR,USD,1.08"
                ) from None
    return RateTable.of(rates)
