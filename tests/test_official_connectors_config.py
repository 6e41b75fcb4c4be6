"""A merchant's config.toml with the official-API connectors: discovered, validated, secrets
read from the environment and never shown in logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.connectors.registry import connector_specs
from bot.logs import scrub

CONFIG = """
[[connectors]]
type = "douyin_open"
name = "dy-shop"
client_key = "awr8bfr64vxgk036"
client_secret = "env:TEST_DOUYIN_SECRET"
open_id = "e3af6e1d"
item_ids = ["@9VwW0qOBUN9mJyD3bNxvGc791G3uO/mLOZ10oQ=="]
token_file = "{tokens}"

[[connectors]]
type = "youtube"
name = "yt-shop"
access_token = "env:TEST_YT_TOKEN"
live_chat_ids = ["Cg0KCzZwX0pNLUk3RlVnKic"]
video_ids = ["dQw4w9WgXcQ"]
"""


def test_both_connector_types_are_discovered():
    specs = connector_specs()
    assert {"douyin_open", "youtube"} <= set(specs)


def test_a_config_builds_both_connectors_with_secrets_from_env(tmp_path: Path, monkeypatch, caplog):
    monkeypatch.setenv("TEST_DOUYIN_SECRET", "dy-very-secret")
    monkeypatch.setenv("TEST_YT_TOKEN", "ya29.secret-token")
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(tokens=tmp_path / "t.json"), encoding="utf-8")
    loaded = load_config(path, must_exist=True)
    specs = connector_specs()
    built = [specs[entry.type].build(settings, entry.account) for entry, settings in loaded.connectors]
    assert [c.platform for c in built] == ["douyin_open", "youtube"]
    assert [s.key for s in built[0].sources] == [
        "douyin_open:video:@9VwW0qOBUN9mJyD3bNxvGc791G3uO/mLOZ10oQ==",
        "douyin_open:webhook:default",
    ]
    assert [s.key for s in built[1].sources] == ["youtube:live:Cg0KCzZwX0pNLUk3RlVnKic", "youtube:video:dQw4w9WgXcQ"]
    assert built[1].sender is not None and built[1].sender.quota.remaining() == 10_000  # type: ignore[attr-defined]
    assert "***" in scrub("token ya29.secret-token and dy-very-secret") and "secret-token" not in scrub(
        "token ya29.secret-token"
    )
    assert "dy-very-secret" not in repr(loaded.connectors[0][1])


def test_bad_values_are_reported_per_key(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TEST_DOUYIN_SECRET", "x" * 8)
    monkeypatch.setenv("TEST_YT_TOKEN", "y" * 8)
    path = tmp_path / "config.toml"
    bad = CONFIG.format(tokens="t.json").replace('name = "yt-shop"', 'name = "yt-shop"\nmax_results = 5\nchat = 1')
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path, must_exist=True)
    text = str(error.value)
    assert "connectors[1].max_results = 5: must be >= 200" in text
    assert "connectors[1].chat" in text and "unknown key" in text


def test_an_expiring_youtube_token_is_warned_at_build(caplog):
    import time

    from bot.connectors.youtube import CONNECTOR

    settings = CONNECTOR.settings_model(access_token="t" * 10, access_token_expires_at=time.time() + 1800)
    with caplog.at_level(logging.WARNING):
        connector = CONNECTOR.build(settings, "shop")
    assert connector.health.credential_expires_at == settings.access_token_expires_at
    assert any("expires in" in r.getMessage() for r in caplog.records)


YOUTUBE_OAUTH = """
[[connectors]]
type = "youtube"
name = "yt-shop"
client_id = "1234-abc.apps.googleusercontent.com"
client_secret = "env:TEST_YT_CLIENT_SECRET"
refresh_token = "env:TEST_YT_REFRESH"
token_file = "{tokens}"
live_chat_ids = ["Cg0KCzZwX0pNLUk3RlVnKic"]
"""


def test_a_youtube_refresh_token_config_reads_its_secrets_from_env_and_can_send(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TEST_YT_CLIENT_SECRET", "GOCSPX-client-secret-value")
    monkeypatch.setenv("TEST_YT_REFRESH", "1//0refresh-token-value")
    path = tmp_path / "config.toml"
    path.write_text(YOUTUBE_OAUTH.format(tokens=tmp_path / "yt.json"), encoding="utf-8")
    loaded = load_config(path, must_exist=True)
    entry, settings = loaded.connectors[0]
    assert settings.token_url == "https://oauth2.googleapis.com/token"  # type: ignore[attr-defined]
    assert "client-secret-value" not in repr(settings) and "refresh-token-value" not in repr(settings)
    connector = connector_specs()["youtube"].build(settings, entry.account)
    assert connector.sender is not None and connector.sender._can_send  # type: ignore[attr-defined]
    assert scrub("GOCSPX-client-secret-value 1//0refresh-token-value") == "*** ***"
    assert not (tmp_path / "yt.json").exists(), "nothing is fetched or written at build time"


@pytest.mark.parametrize(
    ("drop", "add", "message"),
    [
        ('client_secret = "env:TEST_YT_CLIENT_SECRET"\n', "", "refresh_token needs client_secret"),
        ('client_id = "1234-abc.apps.googleusercontent.com"\n', "", "refresh_token needs client_id"),
        ('refresh_token = "env:TEST_YT_REFRESH"\n', 'access_token = "ya29.x"\n', "set refresh_token too"),
    ],
)
def test_an_incomplete_youtube_oauth_config_names_the_missing_key(tmp_path: Path, monkeypatch, drop, add, message):
    monkeypatch.setenv("TEST_YT_CLIENT_SECRET", "s" * 8)
    monkeypatch.setenv("TEST_YT_REFRESH", "r" * 8)
    path = tmp_path / "config.toml"
    path.write_text(YOUTUBE_OAUTH.format(tokens="t.json").replace(drop, add), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path, must_exist=True)
    assert message in str(error.value) and "connectors[0]" in str(error.value)


def test_a_token_file_without_a_refresh_token_is_refused():
    from bot.connectors.youtube import CONNECTOR

    with pytest.raises(ValueError, match="token_file .* needs refresh_token"):
        CONNECTOR.settings_model(access_token="t" * 10, token_file="yt.json")


def test_a_refreshing_youtube_connector_does_not_warn_about_its_access_token_expiring(caplog):
    import time

    from bot.connectors.youtube import CONNECTOR

    settings = CONNECTOR.settings_model(access_token="t" * 10, access_token_expires_at=time.time() + 1800,
                                        client_id="c", client_secret="s" * 8, refresh_token="r" * 8)
    with caplog.at_level(logging.WARNING):
        CONNECTOR.build(settings, "shop")
    assert not any("expires in" in r.getMessage() for r in caplog.records)
