"""Exact values from TikTok's report strings: `Decimal` or `None` for unknown, and division that never invents a 0."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

UNKNOWN = "-"


def parse_decimal(raw: object) -> Decimal | None:
    """A report value as a `Decimal`; TikTok's `"-"`, an empty or missing value is unknown (`None`), never 0."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ValueError(f"not a report number: {raw!r}")
    if isinstance(raw, int | Decimal):
        return Decimal(raw)
    if isinstance(raw, float):
        # A JSON number that the decoder made a float: its shortest repr is what TikTok wrote.
        return Decimal(repr(raw))
    if not isinstance(raw, str):
        raise ValueError(f"not a report number: {raw!r}")
    text = raw.strip()
    if text in ("", UNKNOWN):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a report number: {raw!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a report number: {raw!r}")
    return value


def divide(numerator: Decimal | None, denominator: Decimal | None, *, scale: int = 1) -> Decimal | None:
    """`numerator / denominator * scale`, or `None` ("no value") when either is unknown or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator * scale / denominator


def add(left: Decimal | None, right: Decimal | None) -> Decimal | None:
    """A sum that stays unknown once any part is unknown: a range with an unknown day has an unknown total."""
    if left is None or right is None:
        return None
    return left + right
