import pytest

from rules.duration import MAX_DURATION_MS, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("2h", 7_200_000), ("1d", 86_400_000),
     ("0s", 0), (0, 0), (1500, 1500)],
)
def test_parse(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    ("value", "message"),
    [("5", "expected a duration like 500ms"), ("5 m", "got '5 m'"), ("1h30m", "expected"), ("5M", "expected"),
     ("-5s", "expected"), ("", "expected"), (" 5s", "expected"), (5.5, "got float 5.5"), (True, "got True"),
     (None, "got NoneType None"), ([5], "got list"), (-1, "cannot be negative"),
     (MAX_DURATION_MS + 1, "too large"), ("٣s", "expected")],
)
def test_parse_rejects(value, message):
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0ms"), (500, "500ms"), (1500, "1500ms"), (30_000, "30s"), (300_000, "5m"), (90_000, "90s"),
     (7_200_000, "2h"), (86_400_000, "1d"), (172_800_000, "2d")],
)
def test_format(ms, text):
    assert format_duration(ms) == text
    assert parse_duration(text) == ms


def test_format_rejects_negative():
    with pytest.raises(ValueError):
        format_duration(-1)
