"""The support team measures a list against labelled messages; the numbers must be right."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from keywords.api import MatchResult
from keywords.evaluation import LabelledFileError, evaluate, metrics, parse_labelled

REPO_ROOT = Path(__file__).resolve().parents[1]

TINY = "\n".join(
    [
        "label\ttext\tsource\tnote",
        "price\t多少钱\tx\t",
        "link\t求链接\tx\t",
        "none\t哈哈\tx\t",
        "none\t太贵了\tx\t",
        "stock\t还有吗\tx\t? could be chit-chat",
        "price\t三号多少钱\tx\talso:link",
    ]
)


def fake(predictions: dict[str, tuple[str, ...]]) -> Callable[[str], MatchResult]:
    def match(text: str) -> MatchResult:
        return MatchResult(text=text, intents=predictions.get(text, ()))

    return match


def test_binary_and_per_intent_metrics_on_a_tiny_file() -> None:
    rows = parse_labelled(TINY)
    predicted = {"多少钱": ("price",), "哈哈": ("want",), "三号多少钱": ("price", "link"), "还有吗": ()}
    ev = evaluate(rows, fake(predicted))
    s = ev.summary
    # positives: 多少钱, 求链接, 还有吗, 三号多少钱 (4); predicted leads: 多少钱, 哈哈, 三号多少钱 (3)
    assert (s["tp"], s["fp"], s["fn"]) == (2, 1, 2)
    assert s["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["recall"] == pytest.approx(0.5)
    assert s["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5), abs=1e-4)
    assert s["fp_per_1k"] == pytest.approx(500.0)  # 1 of 2 negatives
    assert s["n"] == 6
    # "also:link" makes the link prediction on 三号多少钱 correct
    assert s["per_intent"]["link"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(0.6667, abs=1e-4), "support": 2, "predicted": 1}
    assert s["per_intent"]["want"]["precision"] == 0.0
    # strict drops the uncertain 还有吗 row
    assert s["strict"]["n"] == 5
    assert s["strict"]["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert [row.text for row, _ in ev.false_positives] == ["哈哈"]
    assert [row.text for row, _ in ev.misses] == ["求链接", "还有吗"]


def test_each_source_gets_its_own_binary_metrics() -> None:
    text = "\n".join(
        [
            "label\ttext\tsource",
            "price\t多少钱\tchat",
            "none\t哈哈\tchat",
            "none\t主播好\tchat",
            "none\t物流很快\treviews",
            "none\t价格实惠\treviews",
            "link\t求链接\tcs",
        ]
    )
    predicted = {"多少钱": ("price",), "哈哈": ("want",), "价格实惠": ("price",)}
    s = evaluate(parse_labelled(text), fake(predicted)).summary
    assert set(s["per_source"]) == {"chat", "reviews", "cs"}
    chat, reviews, cs = s["per_source"]["chat"], s["per_source"]["reviews"], s["per_source"]["cs"]
    assert (chat["n"], chat["tp"], chat["fp"], chat["fn"], chat["fp_per_1k"]) == (3, 1, 1, 0, 500.0)
    assert (reviews["n"], reviews["fp"], reviews["fp_per_1k"]) == (2, 1, 500.0)
    assert (cs["positives"], cs["fn"], cs["recall"]) == (1, 1, 0.0)
    assert "per_intent" not in chat  # a handful of rows per intent and source says nothing
    assert s["fp"] == chat["fp"] + reviews["fp"] + cs["fp"]


def test_a_file_without_a_source_column_has_no_per_source_metrics() -> None:
    rows = parse_labelled("label\ttext\nprice\t多少钱\nnone\t哈哈\n")
    assert "per_source" not in evaluate(rows, fake({})).summary


def test_a_perfect_matcher_scores_one_and_no_false_positives() -> None:
    rows = parse_labelled(TINY)
    gold = {row.text: tuple(sorted(row.gold)) for row in rows}
    s = evaluate(rows, fake(gold)).summary
    assert (s["precision"], s["recall"], s["f1"], s["fp_per_1k"]) == (1.0, 1.0, 1.0, 0.0)


def test_metrics_need_one_prediction_per_row() -> None:
    with pytest.raises(ValueError):
        metrics(parse_labelled(TINY), [])


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [("", 1, "empty"), ("lbl\ttext\n", 1, "header"), ("label\ttext\nprize\t多少钱\n", 2, "unknown label"),
     ("label\ttext\nprice\n", 2, "columns")],
)
def test_a_broken_labelled_file_names_the_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(LabelledFileError) as caught:
        parse_labelled(text, "f.tsv")
    assert caught.value.line == line
    assert reason in caught.value.reason


def test_the_cli_prints_one_json_object_with_the_agreed_keys(tmp_path: Path) -> None:
    path = tmp_path / "tiny.tsv"
    path.write_text(TINY, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "-c", str(tmp_path / "none.toml"), "keywords", "eval", str(path), "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    data = json.loads(out)
    for key in ("precision", "recall", "f1", "fp_per_1k", "per_intent", "n", "strict"):
        assert key in data
    assert data["n"] == 6
    assert data["tp"] >= 2  # 多少钱 and 求链接 are found by the default lists


def test_the_cli_explains_a_sentence(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "-c", str(tmp_path / "none.toml"), "keywords", "test", "不要链接", "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    data = json.loads(out)
    assert data["lead"] is False
    assert data["hits"][0]["rejected_because"].startswith("objection")


def test_a_labelled_file_from_another_tool_is_read_as_meant() -> None:
    # CRLF line ends, a BOM, capitalised labels, a message holding U+2028 and U+0085 (which
    # str.splitlines() would break on), trailing blank lines
    text = "\ufefflabel\ttext\r\nPrice\t多少钱\u2028呀\r\nNONE\t哈哈\u0085哈\r\n\r\n"
    rows = parse_labelled(text, "other.tsv")
    assert [(r.label, r.text, r.line) for r in rows] == [("price", "多少钱\u2028呀", 2), ("none", "哈哈\u0085哈", 3)]
