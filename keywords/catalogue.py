"""The merchant's product catalogue (``products.toml``): which product a message is about.

    [[product]]
    id = "hoodie-grey"
    name = "加绒连帽卫衣"
    aliases = ["卫衣", "连帽衫"]
    link_number = 3
    price = 89.0
    stock = 120

Resolution order: the link number the viewer typed ("3号链接", "#3") → an alias or the name
appearing verbatim in the normalised text → a fuzzy match (rapidfuzz) of long names/aliases
(5+ characters; character-level fuzzy scores on 2–4 character Chinese words are meaningless).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keywords.api import ProductRef
from keywords.lists import KeywordListError, ListProblem, _decode_error_line, _Locator
from keywords.normalise import normalise_fast

FUZZY_MIN_LEN = 5
FUZZY_CUTOFF = 85.0


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    name: str
    aliases: tuple[str, ...] = ()
    link_number: int | None = None
    price: float | None = None
    stock: int | None = None


class Catalogue:
    def __init__(self, products: list[Product], source: str = "") -> None:
        self.products = tuple(products)
        self.source = source
        self._by_number = {p.link_number: p for p in products if p.link_number is not None}
        names: list[tuple[str, Product]] = []
        for product in products:
            for label in (product.name, *product.aliases):
                norm = normalise_fast(label)
                if len(norm) >= 2:
                    names.append((norm, product))
        names.sort(key=lambda item: -len(item[0]))  # longest first: 连帽卫衣 before 卫衣
        self._names = names
        self._fuzzy = [(n, p) for n, p in names if len(n) >= FUZZY_MIN_LEN]

    def __len__(self) -> int:
        return len(self.products)

    def by_number(self, number: int) -> Product | None:
        return self._by_number.get(number)

    def resolve(self, normalised_text: str, link_number: int | None) -> ProductRef | None:
        if link_number is not None:
            product = self._by_number.get(link_number)
            if product is not None:
                return ProductRef(product.product_id, product.name, product.link_number, "number", 100.0)
        for name, product in self._names:
            if name in normalised_text:
                return ProductRef(product.product_id, product.name, product.link_number, "alias", 100.0)
        if self._fuzzy and len(normalised_text) >= FUZZY_MIN_LEN:
            from rapidfuzz import fuzz

            best: tuple[float, Product] | None = None
            for name, product in self._fuzzy:
                score = fuzz.partial_ratio(name, normalised_text[:500], score_cutoff=FUZZY_CUTOFF)
                if score and (best is None or score > best[0]):
                    best = (score, product)
            if best is not None:
                return ProductRef(best[1].product_id, best[1].name, best[1].link_number, "fuzzy", round(best[0], 1))
        return None


def _problems(data: dict[str, Any], text: str, name: str) -> tuple[list[Product], list[ListProblem]]:
    loc = _Locator(text)
    problems: list[ListProblem] = []

    def line_of(needle: str) -> int:
        for number, line in enumerate(loc.lines, 1):
            if needle in line:
                return number
        return 0

    for key in data:
        if key != "product":
            problems.append(ListProblem(name, line_of(key), f"unknown key {key!r}; products are [[product]] tables"))
    raw = data.get("product", [])
    if not isinstance(raw, list):
        return [], [ListProblem(name, line_of("product"), "product must be an array of tables ([[product]])")]
    headers = [n for n, line in enumerate(loc.lines, 1) if line.strip().startswith("[[product]]")]
    products: list[Product] = []
    ids: set[str] = set()
    numbers: dict[int, str] = {}
    allowed = {"id", "name", "aliases", "link_number", "price", "stock"}
    for index, item in enumerate(raw):
        header = headers[index] if index < len(headers) else 0

        def at(key: str, header: int = header) -> int:
            for number in range(header, len(loc.lines) + 1):
                if number > header and loc.lines[number - 1].strip().startswith("[["):
                    break
                if number and loc.lines[number - 1].strip().startswith(key):
                    return number
            return header

        if not isinstance(item, dict):
            problems.append(ListProblem(name, header, f"product #{index + 1} must be a table"))
            continue
        for key in item:
            if key not in allowed:
                problems.append(ListProblem(name, at(key), f"product #{index + 1}: unknown key {key!r}; allowed: {', '.join(sorted(allowed))}"))
        pid = item.get("id")
        pname = item.get("name")
        if not isinstance(pid, str) or not pid.strip():
            problems.append(ListProblem(name, at("id"), f"product #{index + 1}: id must be a non-empty string"))
            continue
        if pid in ids:
            problems.append(ListProblem(name, at("id"), f"product {pid!r}: duplicate id"))
        ids.add(pid)
        if not isinstance(pname, str) or not pname.strip():
            problems.append(ListProblem(name, at("name"), f"product {pid!r}: name must be a non-empty string"))
            continue
        aliases = item.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
            problems.append(ListProblem(name, at("aliases"), f"product {pid!r}: aliases must be a list of non-empty strings"))
            aliases = []
        number = item.get("link_number")
        if number is not None and (not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 999):
            problems.append(ListProblem(name, at("link_number"), f"product {pid!r}: link_number = {number!r}: must be a whole number 1..999"))
            number = None
        if number is not None:
            if number in numbers:
                problems.append(ListProblem(name, at("link_number"), f"product {pid!r}: link_number {number} already used by {numbers[number]!r}"))
            numbers[number] = pid
        price = item.get("price")
        if price is not None and (not isinstance(price, int | float) or isinstance(price, bool) or price < 0):
            problems.append(ListProblem(name, at("price"), f"product {pid!r}: price = {price!r}: must be a number >= 0"))
            price = None
        stock = item.get("stock")
        if stock is not None and (not isinstance(stock, int) or isinstance(stock, bool) or stock < 0):
            problems.append(ListProblem(name, at("stock"), f"product {pid!r}: stock = {stock!r}: must be a whole number >= 0"))
            stock = None
        products.append(Product(pid, pname, tuple(aliases), number, None if price is None else float(price), stock))
    return products, problems


def validate_catalogue_text(text: str, name: str) -> list[ListProblem]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return [ListProblem(name, _decode_error_line(error, text), f"invalid TOML: {error}")]
    return _problems(data, text, name)[1]


def parse_catalogue_text(text: str, name: str) -> Catalogue:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise KeywordListError(name, _decode_error_line(error, text), f"invalid TOML: {error}") from None
    products, problems = _problems(data, text, name)
    if problems:
        first = problems[0]
        raise KeywordListError(first.file, first.line, first.reason, problems)
    return Catalogue(products, name)


def load_catalogue(path: Path) -> Catalogue:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise KeywordListError(str(path), 0, f"not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise KeywordListError(str(path), 0, f"cannot read: {error.strerror or error}") from None
    return parse_catalogue_text(text, str(path))
