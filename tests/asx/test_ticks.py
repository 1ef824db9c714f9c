from hypothesis import given
from hypothesis import strategies as st

from hft.asx.fees import IbkrAsxFixed
from hft.asx.ticks import (
    format_price,
    is_valid_price,
    parse_price,
    round_price,
    tick_down,
    tick_size,
    tick_up,
    ticks_between,
)


def test_tick_bands() -> None:
    assert tick_size(999) == 10  # 9.99c -> 0.1c
    assert tick_size(1_000) == 50  # 10c -> 0.5c
    assert tick_size(19_999) == 50
    assert tick_size(20_000) == 100  # $2 -> 1c


def test_valid_prices() -> None:
    assert is_valid_price(530)  # 5.3c
    assert not is_valid_price(535)  # 5.35c is off the 0.1c grid
    assert is_valid_price(15_050)  # $1.505
    assert not is_valid_price(15_020)
    assert is_valid_price(451_200)
    assert not is_valid_price(451_250)
    assert not is_valid_price(0)
    assert not is_valid_price(-100)


def test_step_across_bands() -> None:
    assert tick_up(990) == 1_000
    assert tick_up(1_000) == 1_050
    assert tick_down(1_000) == 990
    assert tick_down(20_000) == 19_950
    assert tick_up(19_950) == 20_000
    assert tick_down(10) == 10  # never below the smallest price


def test_round_and_count() -> None:
    assert round_price(451_250, "down") == 451_200
    assert round_price(451_250, "up") == 451_300
    assert round_price(1_020, "nearest") == 1_000
    assert ticks_between(990, 1_050) == 2
    assert ticks_between(19_950, 20_100) == 2
    assert ticks_between(20_100, 19_950) == -2


@given(st.integers(min_value=10, max_value=10_000_000))
def test_round_is_on_grid_and_brackets(p: int) -> None:
    lo, hi = round_price(p, "down"), round_price(p, "up")
    assert is_valid_price(lo) and is_valid_price(hi)
    assert lo <= p <= hi
    if is_valid_price(p):
        assert lo == hi == p
        assert tick_down(tick_up(p)) == p
        assert ticks_between(p, tick_up(p, 3)) == 3


@given(st.integers(min_value=1, max_value=10**9))
def test_price_text_round_trip(p: int) -> None:
    assert parse_price(format_price(p)) == p


def test_parse_price_exact() -> None:
    assert parse_price(b"45.12") == 451_200
    assert parse_price("0.053") == 530
    assert parse_price(b"1.5000") == 15_000
    assert parse_price(b"7") == 70_000
    for bad in (b"", b"1.2.3", b"abc", b"1.00001", b"1e3"):
        try:
            parse_price(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_ibkr_fixed_fee() -> None:
    fees = IbkrAsxFixed()
    assert fees.order_fee(100 * 451_200) == 600  # $4,512 -> $3.61 -> minimum $6
    assert fees.order_fee(10_000 * 451_200) == 36_096  # $451,200 * 0.08% = $360.96
    # per-order minimum is charged once across partial fills
    first = fees.fill_fee(0, 100 * 451_200)
    second = fees.fill_fee(100 * 451_200, 100 * 451_200)
    assert first == 600 and second == 122  # 200 shares: $9,024 x 0.08% = $7.22 in all
    assert first + second + fees.fill_fee(200 * 451_200, 9_800 * 451_200) == 36_096


def _tick_up_ref(price: int, n: int) -> int:
    p = round_price(price, "down")
    for _ in range(n):
        p += tick_size(p)
    return p


def _tick_down_ref(price: int, n: int) -> int:
    p = round_price(price, "up")
    for _ in range(n):
        step = tick_size(p - 1)
        if p - step <= 0:
            return 10
        p -= step
    return p


@given(st.integers(1, 3_000_000), st.integers(0, 40))
def test_tick_up_down_fast_paths_equal_the_step_by_step_walk(p: int, n: int) -> None:
    # tick_up / tick_down skip the loop inside the $2.00+ band; the result must be the band-by-band walk
    assert tick_up(p, n) == _tick_up_ref(p, n)
    assert tick_down(p, n) == _tick_down_ref(p, n)


def test_tick_fast_paths_at_the_two_dollar_edge() -> None:
    assert tick_down(20_100, 1) == 20_000 and tick_down(20_100, 2) == 19_950
    assert tick_down(20_050, 1) == 20_000 and tick_down(20_001, 1) == 20_000
    assert tick_up(19_999, 1) == 20_000 and tick_up(20_000, 1) == 20_100 and tick_up(20_099, 2) == 20_200
