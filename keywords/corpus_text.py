"""Plain text lines from the shared corpora formats (for lint negatives and the benchmark).

Readers for full recorded streams (events, timestamps, users) live in the bot's replay
connector; this module only needs the message text.
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path


def bilibili_xml(path: Path) -> Iterator[str]:
    for _, element in ET.iterparse(path, events=("end",)):
        if element.tag == "d" and element.text:
            yield element.text
        element.clear()


def livechat_jsonl(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, list) and len(row) >= 2 and isinstance(row[1], str):
                yield row[1]


def ecd_buyer_turns(path: Path) -> Iterator[str]:
    """Buyer utterances (1st, 3rd, ...) of positive ECD sessions, spaces removed, de-duplicated."""
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            for i, utt in enumerate(parts[1:-1]):
                if i % 2 == 0:
                    text = re.sub(r"(?<=\S) (?=\S)", "", utt).strip()
                    if text and text not in seen:
                        seen.add(text)
                        yield text


def reviews_csv(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("review") or "").lstrip("\ufeff").strip()
            if text:
                yield text


def read_corpus(path: Path) -> Iterator[str]:
    """Guess the format from the file name/extension."""
    name = path.name
    if name.endswith(".xml"):
        return bilibili_xml(path)
    if name.endswith(".jsonl"):
        return livechat_jsonl(path)
    if name.startswith("ecd_") and name.endswith(".tsv"):
        return ecd_buyer_turns(path)
    if name.endswith(".csv"):
        return reviews_csv(path)
    return (line.rstrip("\n") for line in path.open(encoding="utf-8") if line.strip())


def shared_corpora_dir(start: Path | None = None) -> Path | None:
    """``<repo root>/../shared/corpora`` when present."""
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "corpora"
        if (parent / "pyproject.toml").exists() and candidate.is_dir():
            return candidate
    fallback = Path("/work/shared/corpora")
    return fallback if fallback.is_dir() else None
