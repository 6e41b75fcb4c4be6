"""The hand-labelled intent sets in tests/data are well-formed, disjoint and reproducible.

These files are how the matcher's precision and recall are measured, so a malformed row, a label
outside the taxonomy or a text shared between dev and test would silently skew every number.
"""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

DATA = Path(__file__).resolve().parent / "data"
FILES = {"dev": DATA / "labelled_dev.tsv", "test": DATA / "labelled_test.tsv"}
HEADER = "label\ttext\tsource\tnote"
LABELS = {"price", "link", "stock", "spec", "shipping", "ordered", "want", "none"}
SOURCES = {"livechat", "ecd", "reviews", "bilibili"}
NOTE_RE = re.compile(r"^(|\?.*|also:[a-z]+.*|why: .+)$")
ALSO_RE = re.compile(r"also:([a-z]+)")

Row = tuple[str, str, str, str]


def read_rows(path: Path) -> list[Row]:
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == HEADER, f"{path.name}: header is {lines[0]!r}, expected {HEADER!r}"
    assert lines[-1] == "", f"{path.name}: must end with a newline"
    rows: list[Row] = []
    for number, line in enumerate(lines[1:-1], start=2):
        cols = line.split("\t")
        assert len(cols) == 4, f"{path.name}:{number}: {len(cols)} columns: {line!r}"
        rows.append((cols[0], cols[1], cols[2], cols[3]))
    return rows


def summary(rows: list[Row]) -> str:
    by_label = Counter(r[0] for r in rows)
    by_source = Counter(r[2] for r in rows)
    return f"labels={dict(sorted(by_label.items()))} sources={dict(sorted(by_source.items()))}"


@pytest.fixture(scope="module")
def labelled() -> dict[str, list[Row]]:
    return {name: read_rows(path) for name, path in FILES.items()}


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_row_has_a_known_label_source_and_note_form(labelled: dict[str, list[Row]], name: str) -> None:
    rows = labelled[name]
    problems = []
    for label, text, source, note in rows:
        if label not in LABELS:
            problems.append(f"label {label!r}: {text}")
        if source not in SOURCES:
            problems.append(f"source {source!r}: {text}")
        if not text.strip() or text != text.strip():
            problems.append(f"empty or untrimmed text: {text!r}")
        if "\r" in text or "\n" in text:
            problems.append(f"multi-line text: {text!r}")
        if not NOTE_RE.match(note):
            problems.append(f"note {note!r} is not empty, '?…', 'also:<intent>…' or 'why: …': {text}")
        problems.extend(f"note names unknown intent {a!r}: {text}" for a in ALSO_RE.findall(note) if a not in LABELS)
    assert not problems, f"{name}: {summary(rows)}\n" + "\n".join(problems[:20])


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_file_is_a_usable_evaluation_sample(labelled: dict[str, list[Row]], name: str) -> None:
    """Big enough to measure, every source present, and positives of every intent except none."""
    rows = labelled[name]
    labels = Counter(r[0] for r in rows)
    sources = Counter(r[2] for r in rows)
    assert len(rows) >= 800, f"{name}: only {len(rows)} rows; {summary(rows)}"
    assert set(sources) == SOURCES, f"{name}: {summary(rows)}"
    assert set(labels) == LABELS, f"{name}: some intent has no example; {summary(rows)}"
    # every Bilibili danmaku comes from a stream that sells nothing
    assert sources["bilibili"] == sum(1 for r in rows if r[2] == "bilibili" and r[0] == "none"), summary(rows)


def test_no_text_appears_twice_within_or_across_files(labelled: dict[str, list[Row]]) -> None:
    seen: dict[str, str] = {}
    duplicates = []
    for name in sorted(labelled):
        for _label, text, _source, _note in labelled[name]:
            if text in seen:
                duplicates.append(f"{text!r} in {seen[text]} and {name}")
            seen[text] = name
    detail = "; ".join(f"{n}: {summary(rows)}" for n, rows in sorted(labelled.items()))
    assert not duplicates, f"{len(duplicates)} duplicate texts ({detail}):\n" + "\n".join(duplicates[:20])


def test_dev_and_test_are_disjoint(labelled: dict[str, list[Row]]) -> None:
    dev = {r[1] for r in labelled["dev"]}
    test = {r[1] for r in labelled["test"]}
    assert not dev & test, f"shared texts: {sorted(dev & test)[:10]}"


def load_sampler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sample_for_labelling", DATA / "sample_for_labelling.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sampling_script_reproduces_exactly_the_labelled_rows(labelled: dict[str, list[Row]]) -> None:
    sampler = load_sampler()
    corpora = sampler.default_corpora()
    if not corpora.is_dir():
        pytest.skip(f"shared corpora not found at {corpora}; the format checks above still ran")
    drawn = sampler.build(corpora)
    for name, rows in labelled.items():
        assert [(r[1], r[2]) for r in rows] == drawn[name], f"{name}: rows differ from a fresh draw"


def test_dev2_is_well_formed_disjoint_from_dev_and_reproducible() -> None:
    """The second tuning set: same format, no text shared with dev, and re-drawn exactly from the corpora."""
    rows = read_rows(DATA / "labelled_dev2.tsv")
    assert len(rows) == 700
    for label, text, source, note in rows:
        assert label in LABELS and source in SOURCES and NOTE_RE.match(note), (label, text, source, note)
    dev_texts = {r[1] for r in read_rows(FILES["dev"])}
    assert not dev_texts & {r[1] for r in rows}
    spec = importlib.util.spec_from_file_location("sample_dev2", DATA / "sample_dev2.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    corpora = module.first.default_corpora()
    if not corpora.is_dir():
        pytest.skip("../shared/corpora is absent: cannot re-draw dev2")
    assert [(t, s) for _l, t, s, _n in rows] == module.build(corpora)
