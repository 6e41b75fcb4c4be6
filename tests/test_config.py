"""A broken config gives a clear error naming key, value and what is allowed — and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_config_is_valid() -> None:
    config = load_config(REPO / "config.toml", must_exist=True)
    assert config.settings.caps.reply.per_user_per_day == 1


def test_negative_cap_names_key_value_and_rule(tmp_path: Path) -> None:
    path = write(tmp_path, "[caps.reply]\nper_user_per_day = -1\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "caps.reply.per_user_per_day = -1: must be >= 0" in str(error.value)


def test_unknown_key_wrong_type_and_bad_toml_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, "[database]\nbatch_size = 'lots'\nurll = 'x'\n"))
    text = str(error.value)
    assert "database.batch_size = 'lots': must be a whole number" in text
    assert "database.urll" in text and "unknown key" in text
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, "[store\nname = 1\n"))
    assert "invalid TOML" in str(error.value) and "line 1" in str(error.value)


def test_secret_from_environment_and_missing_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[web]\ntoken = "env:LEADBOT_TEST_TOKEN"\n')
    monkeypatch.delenv("LEADBOT_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "web.token = 'env:LEADBOT_TEST_TOKEN': environment variable LEADBOT_TEST_TOKEN is not set" in str(error.value)
    monkeypatch.setenv("LEADBOT_TEST_TOKEN", "s3cret-token")
    config = load_config(path)
    assert config.settings.web.token is not None
    assert config.settings.web.token.get_secret_value() == "s3cret-token"
    assert "s3cret-token" not in repr(config.settings)


def test_unknown_connector_type_lists_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, '[[connectors]]\ntype = "myspace"\n'))
    assert "connectors[0].type = 'myspace': unknown connector type; allowed:" in str(error.value)
    assert "sim" in str(error.value)


def test_connector_settings_are_validated_by_the_connector(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, '[[connectors]]\ntype = "sim"\nrooms = []\n'))
    assert "connectors[0].rooms = []" in str(error.value)


def test_cli_exits_2_with_the_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "[caps.reply]\nper_user_per_day = -1\n")
    assert main(["--config", str(path), "run"]) == 2
    assert "caps.reply.per_user_per_day = -1: must be >= 0" in capsys.readouterr().err


def test_cli_exit_code_2_in_a_real_process(tmp_path: Path) -> None:
    path = write(tmp_path, "[pipeline]\nqueue_size = 0\n")
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(path), "run"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "pipeline.queue_size = 0: must be >= 10" in done.stderr
