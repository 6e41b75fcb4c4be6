"""Dangerous merchant configuration is refused with a line naming the key, unless forced."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.config import ConfigError, format_validation_error, parse_settings
from handlers.settings import GreetingsSettings, RemindersSettings, ScheduleEntry


def problems(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    return caught.value.problems


def test_existing_config_keys_keep_working() -> None:
    settings, _ = parse_settings(
        {"caps": {"timezone": "Asia/Shanghai", "per_user_total_per_day": 3, "conflicts": [["greeting", "reminder"]],
                  "reply": {"per_user_per_day": 1}, "greeting": {"per_user_per_day": 1}, "reminder": {"per_user_per_day": 1}}}
    )
    assert settings.caps.reply.per_user_per_day == 1
    assert settings.caps.reply.cooldown_s == 300  # type defaults survive a partial section
    assert settings.caps.greeting.priority == 10


def test_a_per_user_cap_above_the_safe_maximum_is_refused_unless_forced() -> None:
    lines = problems({"caps": {"reply": {"per_user_per_day": 50}}})
    assert lines == [
        "caps.reply.per_user_per_day = 50: above the safe maximum of 5 per person per day (platforms mute "
        "accounts that message one person repeatedly); set force = true in this section to allow it"
    ]
    settings, _ = parse_settings({"caps": {"reply": {"per_user_per_day": 50, "force": True}}})
    assert settings.caps.reply.per_user_per_day == 50


def test_a_huge_daily_total_is_refused() -> None:
    (line,) = problems({"caps": {"per_user_total_per_day": 100}})
    assert line.startswith("caps.per_user_total_per_day = 100: above the safe maximum of 10")


def test_a_channel_with_zero_spacing_is_refused() -> None:
    (line,) = problems({"caps": {"rates": {"youtube.live_chat": {"interval_s": 0}}}})
    assert line.startswith("caps.rates.youtube.live_chat.interval_s = 0: 0 s spacing means no rate limit")


def test_danmaku_faster_than_bilibili_tolerates_is_refused_unless_forced() -> None:
    (line,) = problems({"caps": {"rates": {"bilibili.live_chat": {"interval_s": 0.3}}}})
    assert "bilibili.live_chat.interval_s = 0.3: faster than the platform tolerates (at least 1 s" in line
    assert line.startswith("caps.rates = {...}:")
    parse_settings({"caps": {"rates": {"bilibili.live_chat": {"interval_s": 0.3, "force": True}}}})


def test_a_room_flood_limit_is_refused() -> None:
    (line,) = problems({"caps": {"reply": {"per_room": {"count": 100, "window_s": 60}}}})
    assert line.startswith("caps.reply.per_room = {...}: 100 per 60 s is above the safe maximum of 30 per minute")


def test_bad_timezone_and_quiet_hours_are_refused() -> None:
    lines = problems({"caps": {"timezone": "Mars/Olympus", "quiet_hours": {"start": "25:00"}}})
    assert any(line.startswith("caps.timezone = 'Mars/Olympus': unknown timezone") for line in lines)
    assert any(line.startswith("caps.quiet_hours.start = '25:00': must be a 24-hour time") for line in lines)


def test_greeting_every_room_entry_is_refused_unless_forced() -> None:
    with pytest.raises(ValidationError) as caught:
        GreetingsSettings.model_validate({"on_member_join": True})
    (line,) = format_validation_error(caught.value, prefix="greetings.")
    assert line.startswith("greetings.on_member_join = True: greeting on every room entry fires for every viewer")
    assert GreetingsSettings.model_validate({"on_member_join": True, "force": True}).on_member_join


def test_bad_reminder_patterns_and_schedule_entries_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        RemindersSettings.model_validate({"next_live_patterns": ["明天(播"]})
    assert "not a valid regular expression" in format_validation_error(caught.value, prefix="reminders.")[0]
    with pytest.raises(ValidationError):
        ScheduleEntry.model_validate({"title": "no start"})
