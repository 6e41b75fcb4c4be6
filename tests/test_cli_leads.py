"""The merchant's side: list, show and export leads from the CLI; hostile text stays inert."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.export import safe_cell
from tests.helpers import chat, make_config, run_worker, start_sim

XSS = "<img src=x onerror=alert(1)>"
FORMULA = '=HYPERLINK("http://evil","click")'


@pytest.fixture
async def db_with_leads(db_url: str, tmp_path: Path) -> str:
    sim = await start_sim(
        [
            chat("u1", "多少钱", nickname=FORMULA),
            chat("u2", "3号链接有货吗", nickname=XSS),
            chat("u3", "主播好"),
            chat("u1", "已拍", nickname=FORMULA),
        ]
    )
    try:
        app = await run_worker(make_config(db_url, tmp_path), sim, shadow=True)
        await app.engine.dispose()
    finally:
        await sim.close()
    return db_url


def test_safe_cell_neutralises_formulas() -> None:
    assert safe_cell("=1+1") == "'=1+1"
    for prefix in "+-@\t\r":
        assert safe_cell(prefix + "x").startswith("'")
    assert safe_cell("多少钱") == "多少钱"
    assert safe_cell(None) == ""


async def test_list_export_and_show(db_with_leads: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = db_with_leads
    assert await _cli(["leads", "list", "--db", db, "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["total"] == 2
    by_nick = {lead["nickname"]: lead for lead in listing["leads"]}
    assert set(by_nick[FORMULA]["intents"]) == {"price", "ordered"}
    assert set(by_nick[XSS]["intents"]) == {"link", "stock"}

    assert await _cli(["leads", "list", "--db", db, "--intent", "ordered", "--json"]) == 0
    assert [lead["nickname"] for lead in json.loads(capsys.readouterr().out)["leads"]] == [FORMULA]

    out = tmp_path / "leads.csv"
    assert await _cli(["leads", "export", "--db", db, "--format", "csv", "--out", str(out), "--intent", "price"]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 1
    assert rows[0]["nickname"] == "'" + FORMULA
    assert rows[0]["intents"] in ("price|ordered", "ordered|price")

    out_jsonl = tmp_path / "leads.jsonl"
    assert await _cli(["leads", "export", "--db", db, "--format", "jsonl", "--out", str(out_jsonl)]) == 0
    exported = [json.loads(line) for line in out_jsonl.read_text(encoding="utf-8").splitlines()]
    assert {lead["nickname"] for lead in exported} == {FORMULA, XSS}

    lead_id = by_nick[XSS]["id"]
    capsys.readouterr()
    assert await _cli(["leads", "show", str(lead_id), "--db", db, "--json"]) == 0
    detail = json.loads(capsys.readouterr().out)
    assert detail["portrait"]["nickname"] == XSS
    assert detail["messages"][0]["text"] == "3号链接有货吗"
    assert {m["intent"] for m in detail["messages"][0]["matches"]} == {"link", "stock"}
    assert detail["actions"][0]["status"] == "shadow"

    assert await _cli(["leads", "status", "won", str(lead_id), "--db", db]) == 0
    assert await _cli(["leads", "list", "--db", db, "--status", "won", "--json"]) == 0
    capsys.readouterr()
    assert await _cli(["leads", "show", str(lead_id), "--db", db, "--json"]) == 0
    history = json.loads(capsys.readouterr().out)["status_history"]
    assert [(h["old_status"], h["new_status"]) for h in history] == [("new", "won")]


async def _cli(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)
