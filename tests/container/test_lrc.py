"""LRC lyrics files as META ``music`` members: time tags of every form, several per line, ID tags ignored,
``[offset]`` applied, enhanced-LRC word tags dropped."""

from __future__ import annotations

import pytest

from snc.container.lrc import parse_lrc
from snc.container.music import checked_music
from snc.errors import InputError

RATE = 1000


def test_time_tags_of_every_form():
    text = "[00:01.50]a\n[00:02]b\n[00:03.250]c\n[00:04:10]d\n[1:05.00]e\n"
    plain, synced = parse_lrc(text, RATE)
    assert synced == [{"frame": 1500, "text": "a"}, {"frame": 2000, "text": "b"}, {"frame": 3250, "text": "c"},
                      {"frame": 4100, "text": "d"}, {"frame": 65000, "text": "e"}]
    assert plain == "a\nb\nc\nd\ne"


def test_several_tags_on_a_line_repeat_it_in_time_order():
    plain, synced = parse_lrc("[00:10.00] [00:30.00]chorus\n[00:20.00]verse\n", RATE)
    assert [(s["frame"], s["text"]) for s in synced] == [(10000, "chorus"), (20000, "verse"), (30000, "chorus")]
    assert plain == "chorus\nverse\nchorus"


def test_id_tags_are_ignored_and_the_offset_applies():
    text = ("\ufeff[ar:Someone]\n[ti:Song: the title]\n[by:me]\n[length: 03:10]\n[offset:+500]\n"
            "[00:01.00]first\n[00:00.20]early\n")
    plain, synced = parse_lrc(text, RATE)
    assert synced == [{"frame": 0, "text": "early"}, {"frame": 500, "text": "first"}]  # sooner, not before 0
    _, later = parse_lrc("[offset:-250]\n[00:01.00]x\n", RATE)
    assert later == [{"frame": 1250, "text": "x"}]


def test_word_tags_and_blank_lines():
    plain, synced = parse_lrc("[00:01.00]<00:01.00>one <00:01.50>two\n[00:02.00]\n[00:03.00]\n[00:04.00]three\n",
                              RATE)
    assert synced[0]["text"] == "one two" and synced[1]["text"] == ""
    assert plain == "one two\n\nthree"
    assert checked_music({"lyrics": plain, "synced_lyrics": synced})["synced_lyrics"] == synced


def test_a_file_without_time_tags_is_plain_lyrics():
    assert parse_lrc("[ar:x]\nla la\n\nlo\n", RATE) == ("la la\n\nlo", [])


@pytest.mark.parametrize("text,rate,needle", [("[offset:soon]\n[00:01]x", RATE, "LRC line 1: offset"),
                                              ("[00:01]x", 0, "sample rate")])
def test_bad_offset_or_rate_is_one_line(text, rate, needle):
    with pytest.raises(InputError, match=needle):
        parse_lrc(text, rate)
