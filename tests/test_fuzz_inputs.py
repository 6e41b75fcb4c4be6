"""Hostile input, property-based: the replay file readers, the simulator's frame decoder and the
real matcher never raise an unhandled exception and answer each input in bounded time."""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.connectors.common import EchoTracker
from bot.connectors.errors import ProtocolError
from bot.connectors.replay.formats import FORMATS, MAX_TEXT_CHARS, RecordedLine, read_lines
from bot.connectors.sim.client import decode_frame, decode_frame_seq
from handlers.events import Origin
from keywords.api import INTENTS

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ORIGIN = Origin("sim", "default", "live", "room-1")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


# ---------------------------------------------------------------------- replay files
def _structured_line(fmt: str) -> st.SearchStrategy[str]:
    """Lines that look almost right for a format: the interesting corner of the input space."""
    if fmt == "events":
        return st.dictionaries(st.sampled_from(["kind", "text", "user_id", "nickname", "room", "id", "ts", "offset_s"]), json_values).map(
            lambda d: json.dumps(d, ensure_ascii=False)
        )
    if fmt == "livechat":
        return st.lists(json_values, max_size=4).map(lambda v: json.dumps(v, ensure_ascii=False))
    if fmt == "bilibili_xml":
        return st.builds(
            lambda p, t: f'<d p="{p}">{t}</d>', st.text(alphabet="0123456789.,-x", max_size=40), st.text(max_size=40)
        )
    if fmt in ("ecd", "reviews"):
        return st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20), max_size=5).map(
            ("\t" if fmt == "ecd" else ",").join
        )
    return st.text(max_size=80)


@st.composite
def replay_file(draw: st.DrawFn) -> tuple[str, bytes]:
    fmt = draw(st.sampled_from(FORMATS))
    if draw(st.booleans()):
        body = draw(st.binary(max_size=2000))
    else:
        lines = draw(st.lists(_structured_line(fmt), max_size=12))
        if fmt == "bilibili_xml" and draw(st.booleans()):
            lines = ['<?xml version="1.0" encoding="UTF-8"?><i>', *lines, "</i>"]
        body = "\n".join(lines).encode("utf-8", "surrogatepass")
    return fmt, body


@FAST
@given(replay_file())
def test_replay_readers_skip_bad_records_and_never_crash(sample: tuple[str, bytes]) -> None:
    fmt, body = sample
    errors: list[tuple[int, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"recording.{ {'bilibili_xml': 'xml', 'ecd': 'tsv', 'reviews': 'csv'}.get(fmt, 'jsonl')}"
        path.write_bytes(body)
        started = time.perf_counter()
        records = list(read_lines(path, fmt, on_error=lambda index, reason: errors.append((index, reason))))
        assert time.perf_counter() - started < 2.0
        detected = list(read_lines(path))  # format detection on the same bytes
    for _, record in records + detected:
        assert isinstance(record, RecordedLine)
        assert isinstance(record.text, str) and len(record.text) <= MAX_TEXT_CHARS
    assert all(isinstance(reason, str) and reason for _, reason in errors)


def test_an_unknown_replay_format_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown replay format"):
        list(read_lines(path, "nope"))  # type: ignore[arg-type]


# ---------------------------------------------------------------------- simulator frames
@st.composite
def frames(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return draw(st.text(max_size=300))
    frame: dict[str, Any] = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
    if choice == 2:  # nearly valid: the right keys with hostile values
        frame.update(
            seq=draw(st.integers() | json_values),
            type=draw(st.sampled_from(["chat", "follow", "live_start", "live_end", "gift"]) | json_values),
            ts=draw(json_values),
            text=draw(json_values),
            user_id=draw(json_values),
            nickname=draw(json_values),
            self=draw(json_values),
            idempotency_key=draw(json_values),
        )
    return json.dumps(frame, ensure_ascii=False, allow_nan=True)


@FAST
@given(frames())
def test_sim_frames_decode_or_raise_protocol_error(raw: str) -> None:
    started = time.perf_counter()
    try:
        seq, events = decode_frame_seq(raw, ORIGIN, EchoTracker(own_user_ids={"sim-bot"}))
    except ProtocolError as error:
        assert error.excerpt is not None
    else:
        assert seq.lstrip("-").isdigit() and events
        assert events == decode_frame(raw, ORIGIN, EchoTracker(own_user_ids={"sim-bot"}))
    assert time.perf_counter() - started < 0.5


def test_a_frame_nested_ten_thousand_deep_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode_frame("[" * 10_000 + "]" * 10_000, ORIGIN, EchoTracker())


# ---------------------------------------------------------------------- the real matcher
@pytest.fixture(scope="module")
def matcher() -> Any:
    from bot.app import load_default_matcher
    from bot.config import LoadedConfig, parse_settings

    settings_, _ = parse_settings({}, "test")
    loaded = load_default_matcher(LoadedConfig(settings_, Path(__file__).resolve().parents[1] / "config.toml", []))
    loaded.match_many(["多少钱", "链接链接"])  # load jieba's dictionary outside the timed examples
    return loaded


hostile_text = st.one_of(
    st.text(max_size=400),
    st.text(alphabet="多少钱链接有货几号已拍不要想买我要¥$%0123456789 ,.!?！？\u200b\u202e\ufeff", max_size=200),
    # a keyword repeated thousands of times once took seconds (every hit compared with every other)
    st.builds(lambda a, n: a * n, st.sampled_from(["多少钱", "不", "链接", "?", "😀", "\u0301"]), st.integers(1, 3000)),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(hostile_text)
def test_the_matcher_answers_any_text_quickly_with_known_intents(matcher: Any, text: str) -> None:
    started = time.perf_counter()
    result = matcher.match(text)
    many = matcher.match_many([text, text])
    assert time.perf_counter() - started < 1.0
    assert set(result.intents) <= set(INTENTS)
    assert math.isfinite(result.score)
    assert [r.intents for r in many] == [result.intents, result.intents], "matching is deterministic"


def test_a_boolean_seq_is_a_protocol_error_not_a_cursor_named_false() -> None:
    # found by hypothesis: bool is an int in Python, so "seq": false was accepted as cursor "False"
    raw = '{"seq": false, "type": "chat", "ts": null, "text": null, "user_id": null, "nickname": null}'
    with pytest.raises(ProtocolError):
        decode_frame(raw, ORIGIN, EchoTracker())
