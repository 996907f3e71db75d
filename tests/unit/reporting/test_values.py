from decimal import Decimal

import pytest

from forwarder.reporting.values import add, divide, parse_decimal


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("20.00", Decimal("20.00")),
        ("4696", Decimal(4696)),
        (0, Decimal(0)),
        (51, Decimal(51)),
        (0.1, Decimal("0.1")),
        (" 3.5 ", Decimal("3.5")),
        (Decimal("1.09"), Decimal("1.09")),
    ],
)
def test_numbers_arrive_as_strings_or_numbers_and_parse_exactly(raw: object, expected: Decimal) -> None:
    assert parse_decimal(raw) == expected
    assert isinstance(parse_decimal(raw), Decimal)


@pytest.mark.parametrize("raw", ["-", "", None])
def test_dash_empty_or_missing_is_unknown_not_zero(raw: object) -> None:
    assert parse_decimal(raw) is None


@pytest.mark.parametrize("raw", ["abc", "NaN", "Infinity", True, [1]])
def test_anything_else_is_refused(raw: object) -> None:
    with pytest.raises(ValueError, match="not a report number"):
        parse_decimal(raw)


def test_divide_by_zero_or_unknown_gives_no_value() -> None:
    assert divide(Decimal(10), Decimal(0)) is None
    assert divide(None, Decimal(4)) is None
    assert divide(Decimal(10), None) is None
    assert divide(Decimal(0), Decimal(4)) == 0
    assert divide(Decimal(3), Decimal(4), scale=1000) == Decimal(750)


def test_a_sum_with_an_unknown_part_is_unknown() -> None:
    assert add(Decimal(1), Decimal(2)) == 3
    assert add(Decimal(1), None) is None
    assert add(None, Decimal(1)) is None
