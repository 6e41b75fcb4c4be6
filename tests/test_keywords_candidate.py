"""A support person tries an edited list on a sentence, a labelled file and a recorded stream
before publishing it: ``--candidate LIST.toml`` shows what would change, and nothing else does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from keywords import load_matcher
from keywords.loader import default_list_paths, with_candidates
from keywords.settings import MatchingSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
NEW_ASK = "蹲一个"  # not in the default lists


def leadbot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "-c", str(tmp_path / "none.toml"), *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def candidate(tmp_path: Path) -> Path:
    path = tmp_path / "try.toml"
    path.write_text(f'[want]\nkeywords = ["{NEW_ASK}"]\n[price]\nremove = ["多少钱"]\n', encoding="utf-8")
    return path


def test_a_candidate_replaces_the_list_of_the_same_name_or_is_layered_on_top(tmp_path: Path) -> None:
    defaults = default_list_paths()
    edited = tmp_path / "zh.toml"
    other = tmp_path / "mine.toml"
    assert with_candidates(defaults, [edited]) == [edited, defaults[1]]
    assert with_candidates(defaults, [other]) == [*defaults, other]
    edited.write_text('[price]\nkeywords = ["几块"]\n', encoding="utf-8")
    matcher = load_matcher(MatchingSettings(products=None), tmp_path, candidates=[edited])
    assert matcher.match("几块").intents == ("price",)
    assert not matcher.match("有链接吗").is_lead  # the default zh.toml is replaced, not extended


def test_keywords_test_shows_both_decisions(tmp_path: Path, candidate: Path) -> None:
    out = leadbot(tmp_path, "keywords", "test", NEW_ASK, "多少钱", "--candidate", str(candidate), "--json")
    assert out.returncode == 0, out.stderr
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    assert (first["current"]["lead"], first["candidate"]["lead"], first["changed"]) == (False, True, True)
    assert (second["current"]["lead"], second["candidate"]["lead"], second["changed"]) == (True, False, True)
    assert first["current"]["version"] != first["candidate"]["version"]


def test_keywords_eval_compares_the_metrics_and_names_the_rows_that_flip(tmp_path: Path, candidate: Path) -> None:
    labelled = tmp_path / "l.tsv"
    labelled.write_text(f"label\ttext\nwant\t{NEW_ASK}\nprice\t多少钱\nnone\t哈哈\n", encoding="utf-8")
    out = leadbot(tmp_path, "keywords", "eval", str(labelled), "--candidate", str(candidate), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["current"]["tp"], data["candidate"]["tp"]) == (1, 1)
    assert (data["fixed"], data["broken"]) == (1, 1)
    text = leadbot(tmp_path, "keywords", "eval", str(labelled), "--candidate", str(candidate)).stdout
    assert "- broken: line 3 label=price" in text
    assert "- fixed: line 2 label=want" in text


def test_replay_reports_leads_gained_and_lost(tmp_path: Path, candidate: Path) -> None:
    stream = tmp_path / "chat.txt"
    stream.write_text(f"{NEW_ASK}\n多少钱\n哈哈\n{NEW_ASK}\n", encoding="utf-8")
    out = leadbot(tmp_path, "replay", str(stream), "--format", "lines", "--candidate", str(candidate), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["messages"], data["leads_before"], data["leads_after"]) == (4, 1, 2)
    assert (data["gained"], data["lost"], data["changed"]) == (2, 1, 0)
    assert {c["text"] for c in data["changes"]} == {NEW_ASK, "多少钱"}


def test_a_broken_or_missing_candidate_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[price]\nkeywords = ["多少钱"\n', encoding="utf-8")
    out = leadbot(tmp_path, "keywords", "test", "多少钱", "--candidate", str(bad))
    assert out.returncode == 2
    assert "bad.toml:2" in out.stderr or "bad.toml:3" in out.stderr
    missing = leadbot(tmp_path, "keywords", "test", "多少钱", "--candidate", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
