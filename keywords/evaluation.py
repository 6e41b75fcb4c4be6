"""Measuring a matcher against hand-labelled messages (pure: rows + predictions → metrics).

Input: TSV with a header containing ``label`` and ``text`` (other columns ignored; a ``note``
starting with ``?`` marks an uncertain label; ``also:<intent>`` in the note names a second
intent that is also correct).

Binary lead detection: a row is positive when its label is not ``none``; predicted positive when
the matcher returns any intent. Per intent: gold = {label} ∪ also-intents, predicted = the
matcher's accepted intents; an intent counts as predicted when it is among them (a message asking
"三号链接多少钱" labelled ``price, also:link`` is right twice, not wrong once).
The same metrics on the rows without ``?`` notes are reported under ``strict``.
When the file has a ``source`` column (where each message came from: live chat, a review site,
a customer-service log), binary metrics per source are reported under ``per_source``: false
positives per 1,000 negatives differ by channel, and one average hides which channel is noisy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keywords.api import INTENTS, NONE_INTENT, MatchResult

LABELS = (*INTENTS, NONE_INTENT)
_ALSO_RE = re.compile(r"also:\s*([a-z]+)")


class LabelledFileError(Exception):
    def __init__(self, file: str, line: int, reason: str) -> None:
        self.file, self.line, self.reason = file, line, reason
        super().__init__(f"{file}:{line}: {reason}")


@dataclass(frozen=True, slots=True)
class LabelledRow:
    label: str
    text: str
    note: str = ""
    line: int = 0
    source: str = ""

    @property
    def uncertain(self) -> bool:
        return self.note.startswith("?")

    @property
    def gold(self) -> frozenset[str]:
        if self.label == NONE_INTENT:
            return frozenset()
        also = {m for m in _ALSO_RE.findall(self.note) if m in INTENTS}
        return frozenset({self.label} | also)


def parse_labelled(text: str, name: str = "<labels>") -> list[LabelledRow]:
    # Only "\n" ends a row: chat text may hold U+2028, U+0085 or other characters that
    # str.splitlines() would also break on, splitting one message into two broken rows.
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise LabelledFileError(name, 1, "empty file; expected a header label<TAB>text")
    header = [h.strip().lower() for h in lines[0].lstrip("\ufeff").split("\t")]
    if "label" not in header or "text" not in header:
        raise LabelledFileError(name, 1, f"header must contain label and text columns, got {header}")
    i_label, i_text = header.index("label"), header.index("text")
    i_note = header.index("note") if "note" in header else None
    i_source = header.index("source") if "source" in header else None
    rows: list[LabelledRow] = []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) <= max(i_label, i_text):
            raise LabelledFileError(name, number, f"expected at least {max(i_label, i_text) + 1} tab-separated columns")
        label = cols[i_label].strip().lower()  # "Price" is price
        if label not in LABELS:
            raise LabelledFileError(name, number, f"unknown label {label!r}; allowed: {', '.join(LABELS)}")
        note = cols[i_note].strip() if i_note is not None and i_note < len(cols) else ""
        source = cols[i_source].strip() if i_source is not None and i_source < len(cols) else ""
        rows.append(LabelledRow(label, cols[i_text], note, number, source))
    return rows


def read_labelled(path: Path) -> list[LabelledRow]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise LabelledFileError(str(path), 0, f"not UTF-8 (byte {error.start})") from None
    except OSError as error:
        raise LabelledFileError(str(path), 0, f"cannot read: {error.strerror or error}") from None
    return parse_labelled(text, str(path))


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def metrics(rows: Sequence[LabelledRow], predicted: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Binary and per-intent metrics; ``predicted[i]`` are the intents returned for ``rows[i]``."""
    if len(rows) != len(predicted):
        raise ValueError("one prediction per row")
    tp = fp = fn = tn = 0
    per: dict[str, list[int]] = {intent: [0, 0, 0] for intent in INTENTS}  # tp, fp, fn
    for row, intents in zip(rows, predicted, strict=True):
        gold = row.gold
        pred = frozenset(i for i in intents if i in INTENTS)
        if gold and pred:
            tp += 1
        elif pred:
            fp += 1
        elif gold:
            fn += 1
        else:
            tn += 1
        for intent in INTENTS:
            if intent in pred and intent in gold:
                per[intent][0] += 1
            elif intent in pred:
                per[intent][1] += 1
            elif intent in gold:
                per[intent][2] += 1
    negatives = fp + tn
    result: dict[str, Any] = _prf(tp, fp, fn)
    result.update(
        {
            "fp_per_1k": round(1000 * fp / negatives, 2) if negatives else 0.0,
            "n": len(rows),
            "positives": tp + fn,
            "negatives": negatives,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "per_intent": {
                intent: {**_prf(*counts), "support": counts[0] + counts[2], "predicted": counts[0] + counts[1]}
                for intent, counts in per.items()
            },
        }
    )
    return result


@dataclass
class Evaluation:
    summary: dict[str, Any]
    false_positives: list[tuple[LabelledRow, MatchResult]] = field(default_factory=list)
    misses: list[tuple[LabelledRow, MatchResult]] = field(default_factory=list)
    wrong_intent: list[tuple[LabelledRow, MatchResult]] = field(default_factory=list)
    predictions: list[tuple[str, ...]] = field(default_factory=list)  # intents per row, in row order


def evaluate(rows: Sequence[LabelledRow], match: Callable[[str], MatchResult]) -> Evaluation:
    results = [match(row.text) for row in rows]
    predicted = [r.intents for r in results]
    summary = metrics(rows, predicted)
    summary["strict"] = metrics(*_subset(rows, predicted, [not row.uncertain for row in rows]))
    sources = sorted({row.source for row in rows if row.source})
    if sources:
        summary["per_source"] = {
            source: _binary(metrics(*_subset(rows, predicted, [row.source == source for row in rows])))
            for source in sources
        }
    ev = Evaluation(summary, predictions=predicted)
    for row, res in zip(rows, results, strict=True):
        if res.intents and not row.gold:
            ev.false_positives.append((row, res))
        elif row.gold and not res.intents:
            ev.misses.append((row, res))
        elif row.gold and res.intents and not (row.gold & set(res.intents)):
            ev.wrong_intent.append((row, res))
    ev.false_positives.sort(key=lambda item: -item[1].score)
    ev.misses.sort(key=lambda item: (item[0].uncertain, -max((h.weight for h in item[1].hits), default=0)))
    return ev


def _subset(
    rows: Sequence[LabelledRow], predicted: Sequence[Sequence[str]], keep: Sequence[bool]
) -> tuple[list[LabelledRow], list[Sequence[str]]]:
    """The rows (and their predictions) where ``keep`` is true: the strict or one source's share."""
    kept = [i for i, wanted in enumerate(keep) if wanted]
    return [rows[i] for i in kept], [predicted[i] for i in kept]


def _binary(summary: dict[str, Any]) -> dict[str, Any]:
    """The binary part of a summary (per-intent counts of one source are too small to read)."""
    return {k: v for k, v in summary.items() if k != "per_intent"}
