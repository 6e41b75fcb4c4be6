"""Config, bootstrap parsing, WBI signing and credential handling of the Bilibili connector."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import ConfigError, load_config
from bot.connectors.bilibili import CONNECTOR, build
from bot.connectors.bilibili.api import (
    FALLBACK_HOST,
    check_code,
    http_error,
    parse_danmu_info,
    parse_room_init,
    sessdata_expiry,
    ws_urls,
)
from bot.connectors.bilibili.sender import rnd_for
from bot.connectors.bilibili.settings import BilibiliSettings
from bot.connectors.bilibili.wbi import mixin_key, sign_params
from bot.connectors.errors import AuthExpired, PermanentError, ProtocolError, RateLimited, TransientError
from bot.connectors.registry import connector_specs
from bot.logs import scrub
from tests.bilibili_data import vector_json


def test_get_danmu_info_sample_gives_token_and_five_hosts() -> None:
    info = parse_danmu_info(vector_json("001_.json"))
    assert info.token.startswith("gZ2Pp2T4rIc2HfD0e53FHhQAwKWjb6") and len(info.hosts) == 5
    urls = ws_urls(info, "wss")
    assert urls[0] == "wss://zj-cn-live-comet.chat.bilibili.com:2245/sub"  # duplicates collapsed
    assert len(urls) == 4 and urls[-1] == "wss://broadcastlv.chat.bilibili.com:2245/sub"
    assert ws_urls(info, "ws")[0] == "ws://zj-cn-live-comet.chat.bilibili.com:2244/sub"


def test_empty_host_list_falls_back_to_the_public_broadcast_host() -> None:
    info = parse_danmu_info({"code": 0, "data": {"token": "t", "host_list": []}})
    assert info.hosts == (FALLBACK_HOST,)
    assert ws_urls(info, "wss") == ("wss://broadcastlv.chat.bilibili.com:443/sub",)


def test_room_init_and_bad_answers() -> None:
    assert parse_room_init({"code": 0, "data": {"room_id": 21452505, "uid": 7}}).room_id == 21452505
    with pytest.raises(ProtocolError):
        parse_room_init({"code": 0, "data": {"uid": 7}})
    with pytest.raises(PermanentError):
        parse_room_init({"code": 1, "msg": "房间不存在"})
    with pytest.raises(AuthExpired):
        check_code({"code": -101, "message": "账号未登录"}, "nav")
    with pytest.raises(RateLimited):
        check_code({"code": -412, "message": "请求被拦截"}, "getDanmuInfo")
    with pytest.raises(TransientError):
        check_code({"code": -352, "message": "风控校验失败"}, "getDanmuInfo")


def test_http_statuses_map_to_typed_errors() -> None:
    error = http_error(429, {"Retry-After": "12"}, "x", blocked_retry_s=60)
    assert isinstance(error, RateLimited) and error.retry_after == 12
    error = http_error(412, {}, "x", blocked_retry_s=60)
    assert isinstance(error, RateLimited) and error.retry_after == 60
    assert isinstance(http_error(503, {}, "x", blocked_retry_s=60), TransientError)
    assert isinstance(http_error(401, {}, "x", blocked_retry_s=60), AuthExpired)
    assert isinstance(http_error(404, {}, "x", blocked_retry_s=60), PermanentError)
    assert http_error(200, {}, "x", blocked_retry_s=60) is None


def test_wbi_signature_matches_the_documented_example() -> None:
    # bilibili-API-collect docs/misc/sign/wbi.md worked example
    key = mixin_key(
        "https://i0.hdslb.com/bfs/wbi/7cd084941338484aae1ad9425b84077c.png",
        "https://i0.hdslb.com/bfs/wbi/4932caff0ff746eab6f01bf08b70ac45.png",
    )
    assert key == "ea1db124af3c7062474693fa704f4ff8"
    signed = sign_params({"foo": "114", "bar": "514", "zab": 1919810}, key, 1702204169)
    assert signed["w_rid"] == "8f6f2b5b3d485fe1886cec6a0be8c5d4" and signed["wts"] == "1702204169"
    assert sign_params({"a": "x!'()*"}, key, 1)["w_rid"] == sign_params({"a": "x"}, key, 1)["w_rid"]


def test_rnd_is_stable_per_idempotency_key() -> None:
    assert rnd_for("k1") == rnd_for("k1") != rnd_for("k2")
    assert len(rnd_for("k1")) == 10 and rnd_for("k1").isdigit()


def test_settings_reject_bad_values_with_the_key_named() -> None:
    with pytest.raises(ValidationError, match="rooms"):
        BilibiliSettings.model_validate({"rooms": ["live.bilibili.com/1"]})
    with pytest.raises(ValidationError, match="danmaku_max_chars"):
        BilibiliSettings.model_validate({"rooms": ["1"], "danmaku_max_chars": 41})
    with pytest.raises(ValidationError, match="extra"):
        BilibiliSettings.model_validate({"rooms": ["1"], "cookie": "x"})
    settings = BilibiliSettings.model_validate({"rooms": ["1"], "heartbeat_s": 10})
    assert settings.effective_receive_timeout_s == 15 and settings.danmaku_max_chars == 20


def test_config_file_entry_is_validated_and_secrets_come_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert connector_specs()["bilibili"] is CONNECTOR
    monkeypatch.setenv("BILI_SESSDATA", "abcdef%2C4102444800%2Cxy*z1")
    monkeypatch.setenv("BILI_JCT", "fedcba9876543210")
    path = tmp_path / "config.toml"
    path.write_text(
        '[[connectors]]\ntype = "bilibili"\nname = "shop-live"\naccount = "shop"\nrooms = ["21452505"]\n'
        'sessdata = "env:BILI_SESSDATA"\nbili_jct = "env:BILI_JCT"\ndanmaku_max_chars = 30\n',
        encoding="utf-8",
    )
    loaded = load_config(path)
    [(entry, settings)] = loaded.connectors
    assert isinstance(settings, BilibiliSettings) and settings.danmaku_max_chars == 30
    assert "fedcba9876543210" not in repr(settings)
    connector = build(settings, entry.account)
    assert connector.health.credential_expires_at == 4102444800
    assert scrub("cookie fedcba9876543210") == "cookie ***"  # registered as a secret
    path.write_text('[[connectors]]\ntype = "bilibili"\nrooms = ["x1"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"connectors\[0\]\.rooms"):
        load_config(path)


def test_sessdata_close_to_expiry_is_warned(caplog: pytest.LogCaptureFixture) -> None:
    soon = int(time.time()) + 2 * 86_400
    assert sessdata_expiry(f"abc%2C{soon}%2Csig") == soon
    assert sessdata_expiry("opaque") is None
    settings = BilibiliSettings.model_validate({"rooms": ["1"], "sessdata": f"abc%2C{soon}%2Csig", "bili_jct": "x" * 8})
    with caplog.at_level(logging.WARNING):
        build(settings, "shop")
    assert "expires in" in caplog.text and f"{soon}" not in caplog.text


def test_without_cookies_there_is_no_sender() -> None:
    connector = build(BilibiliSettings.model_validate({"rooms": ["1", "2"]}), "shop")
    assert connector.sender is None and [s.key for s in connector.sources] == ["bilibili:room:1", "bilibili:room:2"]
