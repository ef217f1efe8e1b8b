"""Answer parsers: the forms the field's parsers accept, the cases they must refuse, and
property tests (total: never raise; round-trip on well-formed answers)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m1.data.answers import parse_choice, parse_interval, parse_number, parse_numbers
from m1.data.subtitles import parse_lvb_subtitles, parse_srt, timecode_to_seconds

OPTIONS = ["red", "red car", "blue", "green"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A", "A"),
        ("(B)", "B"),
        ("C.", "C"),
        ("D: green", "D"),
        ("A) red", "A"),
        ("[C]", "C"),
        ("**B**", "B"),
        ("b", "B"),
        ("Option C", "C"),
        ("The answer is D", "D"),
        ("The best answer is: B. red car", "B"),
        ("answer: (b)", "B"),
        ("I think B.", "B"),
        ("The answer is A, not B", "A"),
        ("<answer>A</answer> on reflection <answer>C</answer>", "C"),  # last block (Video-Holmes)
        ("<think>maybe A</think><answer>(D)</answer>", "D"),
        ("so (A) is wrong and (C) fits", "C"),  # MMMU: the last bracketed letter
        ("It is the red car", "B"),  # option text, maximal match ("red" is inside "red car")
        ("blue", "C"),
        # refused: no letter, ambiguous, or English words
        ("A man is walking", None),
        ("A or B", None),
        ("A and C are wrong; B", None),
        ("E", None),
        ("", None),
        ("   ", None),
        ("I don't know", None),
        ("red or blue", None),
    ],
)
def test_parse_choice(text, expected):
    assert parse_choice(text, OPTIONS) == expected


def test_parse_choice_without_options_accepts_up_to_j():
    assert (
        parse_choice("J") == "J" and parse_choice("(F)", n_options=6) == "F" and parse_choice("G", n_options=6) is None
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3.0),
        ("3 meters", 3.0),
        ("2.5m", 2.5),
        ("1,234.5 sq m", 1234.5),
        ("-2", -2.0),
        (".5", 0.5),
        ("The answer is 4", 4.0),
        ("There are 2 rooms; the answer is 7 chairs", 7.0),
        ("<answer>12</answer>", 12.0),
        ("three", 3.0),
        ("Twenty-one chairs", 21.0),
        ("ninety nine", 99.0),
        ("about 3.0 m, maybe 4", 3.0),
        ("none", None),
        ("inf", None),
        ("", None),
        ("A3B", None),
    ],
)
def test_parse_number(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.3 - 20", (12.3, 20.0)),
        ("12.3-20.0 seconds", (12.3, 20.0)),
        ("0:12-0:20", (12.0, 20.0)),
        ("from 12.3 to 20 seconds", (12.3, 20.0)),
        ("between 5 and 7.5", (5.0, 7.5)),
        ("[3.1, 8.2]", (3.1, 8.2)),
        ("start time: 4 s, end time: 9 s", (4.0, 9.0)),
        ("The event happens at 30 to 20", (20.0, 30.0)),
        ("1:02:03 - 1:02:10", (3723.0, 3730.0)),
        ("5s ~ 9s", (5.0, 9.0)),
        ("<answer>1 - 2</answer>", (1.0, 2.0)),
        ("It starts at 3 and lasts until 8.", (3.0, 8.0)),
        # lmms-eval's prompt example echoed back is not an answer
        ("A specific example is : 20.8 - 30.0 seconds. It happens in 5.5 - 9.0 seconds", (5.5, 9.0)),
        ("12", None),
        ("no idea", None),
        ("", None),
    ],
)
def test_parse_interval(text, expected):
    assert parse_interval(text) == expected


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80))
def test_parsers_are_total(text):
    letter = parse_choice(text, OPTIONS)
    assert letter is None or letter in "ABCD"
    number = parse_number(text)
    assert number is None or number == number  # finite float (not NaN)
    interval = parse_interval(text)
    assert interval is None or interval[0] <= interval[1]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from("ABCD"),
    st.sampled_from(["{}", "({})", "{}.", "{}:", "{})", "The answer is {}", "<answer>{}</answer>"]),
)
def test_choice_round_trip(letter, form):
    assert parse_choice(form.format(letter), OPTIONS) == letter


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value=0, max_value=10_000, places=2), st.sampled_from(["{} meters", "{}m", "{}", "about {}"]))
def test_number_round_trip(value, form):
    assert parse_number(form.format(value)) == pytest.approx(float(value))


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value=0, max_value=500, places=1), st.decimals(min_value=0, max_value=500, places=1))
def test_interval_round_trip(a, b):
    lo, hi = sorted((float(a), float(b)))
    assert parse_interval(f"{a} - {b} seconds") == pytest.approx((lo, hi))


def test_subtitle_parsers_count_bad_entries():
    assert timecode_to_seconds("01:02:03.500") == 3723.5 and timecode_to_seconds("00:00:01,250") == 1.25
    assert timecode_to_seconds("nope") is None
    lines, bad = parse_srt("1\n00:00:01,000 --> 00:00:02,000\nhello\n\n2\n00:00:05,000 --> 00:00:03,000\nbackwards\n")
    assert lines == [(1.0, 2.0, "hello")] and bad == 1
    lines, bad = parse_lvb_subtitles([{"timestamp": [10.0, 12.0], "text": "a"}, {"timestamp": "x"}, 5], 10.0, 30.0)
    assert lines == [(0.0, 2.0, "a")] and bad == 2
    assert parse_lvb_subtitles("not a list") == ([], 1)


def test_parse_numbers_for_open_answers():
    assert parse_numbers("F = 10 N + 2.5 N = 12.5 N") == [12.5]  # after the last "="
    assert parse_numbers("It could be 3 or 4") == [3.0, 4.0]
    assert parse_numbers("The answer is 7, not 8") == [7.0, 8.0]
    assert parse_numbers("five") == [5.0] and parse_numbers("none") == [] and parse_numbers(None) == []
