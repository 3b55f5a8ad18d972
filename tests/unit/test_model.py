from datetime import UTC, datetime, timedelta

import pytest

from inventory_sync.model import (
    Window,
    delta_window,
    format_timestamp,
    parse_timestamp,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-10-20T04:12:08.812570167", datetime(2022, 10, 20, 4, 12, 8, 812570, tzinfo=UTC)),
        ("2022-10-20T04:12:08", datetime(2022, 10, 20, 4, 12, 8, tzinfo=UTC)),
        ("2022-10-20T04:12:08Z", datetime(2022, 10, 20, 4, 12, 8, tzinfo=UTC)),
        ("2022-10-20T04:12:08.8Z", datetime(2022, 10, 20, 4, 12, 8, 800000, tzinfo=UTC)),
        ("2022-10-20T06:12:08.123+02:00", datetime(2022, 10, 20, 4, 12, 8, 123000, tzinfo=UTC)),
        ("2022-10-20T06:12:08.123+0200", datetime(2022, 10, 20, 4, 12, 8, 123000, tzinfo=UTC)),
        ("2022-10-19T23:12:08-05:00", datetime(2022, 10, 20, 4, 12, 8, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_accepts_0_to_9_fraction_digits_and_optional_zone(
    text: str, expected: datetime
) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2022-13-01T00:00:00Z", "2022-10-20T04:12:08.1234567890Z"]
)
def test_parse_timestamp_rejects_garbage_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        parse_timestamp(text)


def test_format_is_utc_millis_with_z() -> None:
    value = datetime(2022, 10, 20, 6, 12, 8, 812570, tzinfo=UTC) + timedelta(0)
    assert format_timestamp(value) == "2022-10-20T06:12:08.812Z"
    assert parse_timestamp(format_timestamp(value)) == value.replace(microsecond=812000)


def test_delta_window_subtracts_overlap_and_settle_lag_and_truncates_end() -> None:
    previous_end = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    run_start = datetime(2026, 1, 1, 10, 5, 0, 123456, tzinfo=UTC)
    window = delta_window(
        previous_end, run_start, overlap=timedelta(minutes=2), settle_lag=timedelta(seconds=30)
    )
    assert window.start == datetime(2026, 1, 1, 9, 58, tzinfo=UTC)
    assert window.end == datetime(2026, 1, 1, 10, 4, 30, 123000, tzinfo=UTC)


def test_no_previous_end_is_a_full_window() -> None:
    run_start = datetime(2026, 1, 1, tzinfo=UTC)
    window = delta_window(None, run_start, overlap=timedelta(0), settle_lag=timedelta(0))
    assert window.start is None
    assert window.end == run_start


def test_window_start_after_end_is_refused() -> None:
    end = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="after its end"):
        Window(start=end + timedelta(seconds=1), end=end)


def test_retry_after_parses_seconds_and_http_dates() -> None:
    from inventory_sync.http import parse_retry_after

    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
