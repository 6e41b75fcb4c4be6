"""Reply templates as data, rendered safely, rotated, and sized to each platform's limits.

    book = ReplyBook.load(default_template_paths("zh"), settings=RepliesSettings())
    result = book.render("price", "live_chat", "bilibili",
                         ReplyContext(nickname="小明", product=ProductFacts("卫衣", 3, 89.0)),
                         avoid=last_texts_in_room, key=idempotency_key)
    if isinstance(result, Rendered): send(result.text) else: record(result.reason)

Template files (TOML) have one table per *kind* — an intent (price, link, stock, spec,
shipping, ordered, want) or greeting / greeting_batch / reminder — with one list of variants
per channel (public_reply, live_chat, private_message). Files listed later replace a
kind+channel list of earlier files; an empty list switches that reply off. Every template is
parsed when loading (see ``replies.template``); problems are reported with file and line.

Rendering never raises for any message: a variant whose variables have no value is not
eligible, a variant longer than the platform limit is not eligible (after cutting the
nickname), and when nothing is left the result is a ``NoReply`` with the reason.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from replies.clean import clean_value
from replies.settings import CHANNELS, RepliesSettings
from replies.template import Template, TemplateSyntaxError, parse_template

INTENT_KINDS = ("price", "link", "stock", "spec", "shipping", "ordered", "want")
KINDS: tuple[str, ...] = (*INTENT_KINDS, "greeting", "greeting_batch", "reminder")
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
# Variables that carry facts (product, broadcast): variants using them are preferred.
FACT_VARIABLES = frozenset({"product", "link_number", "price", "stock", "next_live", "title", "minutes"})
MIN_NICKNAME_CHARS = 1
NAME_SEPARATOR = {"zh": "、", "en": ", "}


def default_template_paths(language: str = "zh") -> list[Path]:
    """The built-in template file for ``language`` ("zh" or "en")."""
    return [TEMPLATES_DIR / f"default_{language}.toml"]


class TemplateFileError(ValueError):
    """One or more template files cannot be used; one ``file:line: problem`` per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What the catalogue knows about the product asked about (any field may be unknown)."""

    name: str | None = None
    link_number: int | None = None
    price: float | None = None
    stock: int | None = None
    currency: str = "CNY"


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """Values for one rendering. Empty / None values make variants that need them ineligible."""

    nickname: str = ""
    product: ProductFacts | None = None
    names: Sequence[str] = ()  # batched greetings
    next_live: str | None = None  # pre-formatted, see format_live_time()
    title: str | None = None
    minutes: int | None = None
    store: str | None = None


@dataclass(frozen=True, slots=True)
class Variant:
    variant_id: str  # "price.live_chat#2": stable, store it to rotate per target
    template: Template
    source: str  # "file:line"


@dataclass(frozen=True, slots=True)
class Candidate:
    variant_id: str
    text: str
    nickname_cut: bool = False


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    variant_id: str
    kind: str
    channel: str
    nickname_cut: bool = False  # the nickname was shortened to fit the length limit


@dataclass(frozen=True, slots=True)
class NoReply:
    """Nothing can be sent. ``reason``: no_template | disabled | missing_values | too_long | repeat."""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


def format_price(price: float, currency: str = "CNY") -> str:
    """89.0 → "¥89", 5.5 → "¥5.5", (5.99, "USD") → "$5.99"."""
    amount = f"{price:.2f}".rstrip("0").rstrip(".")
    symbol = {"CNY": "¥", "RMB": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}.get(currency.upper())
    return f"{symbol}{amount}" if symbol else f"{amount} {clean_value(currency, 5)}".strip()


def format_live_time(starts_at: float, now: float, timezone: str, language: str = "zh") -> str:
    """When a broadcast starts, as a viewer reads it: "今晚 20:00" / "明天 20:00" / "11月25日 20:00"."""
    zone = ZoneInfo(timezone)
    start = datetime.fromtimestamp(starts_at, zone)
    days = (start.date() - datetime.fromtimestamp(now, zone).date()).days
    clock = start.strftime("%H:%M")
    if language == "zh":
        if days == 0:
            return f"今晚 {clock}" if start.hour >= 18 else f"今天 {clock}"
        if days == 1:
            return f"明天 {clock}"
        if days == 2:
            return f"后天 {clock}"
        return f"{start.month}月{start.day}日 {clock}"
    if days == 0:
        return f"today {clock}"
    if days == 1:
        return f"tomorrow {clock}"
    return f"{start.strftime('%b')} {start.day} {clock}"


class RecentTexts:
    """The last few texts and variant ids sent per target (room / video / user), for ``avoid``.

    In-memory helper; a restart loses it, so the pipeline may instead load the last sends of
    the target from the outbox.
    """

    def __init__(self, keep: int = 5, targets: int = 10_000) -> None:
        self.keep = keep
        self.targets = targets
        self._recent: dict[str, list[str]] = {}

    def get(self, target: str) -> list[str]:
        return list(self._recent.get(target, ()))

    def add(self, target: str, rendered: Rendered) -> None:
        items = self._recent.pop(target, [])
        items = [*items, rendered.variant_id, rendered.text][-2 * self.keep :]
        self._recent[target] = items  # most recently used last
        while len(self._recent) > self.targets:
            del self._recent[next(iter(self._recent))]


def _stable_index(seed: str, n: int) -> int:
    digest = hashlib.blake2b(seed.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n


def choose_variant(candidates: Sequence[Candidate], last_texts_for_target: Sequence[str], seed: str) -> Candidate | None:
    """Pick one candidate deterministically from ``seed``, never repeating the target's last text.

    ``last_texts_for_target`` is oldest → newest and may hold texts and/or variant ids. First
    every recent one is avoided; if that leaves nothing, only the most recent is; if even that
    leaves nothing, ``None`` (sending would repeat the previous message to this target).
    The same seed (the idempotency key) and the same inputs always give the same choice.
    """
    if not candidates:
        return None
    recent = set(last_texts_for_target)
    pool = [c for c in candidates if c.text not in recent and c.variant_id not in recent]
    if not pool and last_texts_for_target:
        last = last_texts_for_target[-1]
        pool = [c for c in candidates if c.text != last and c.variant_id != last]
    if not pool:
        return None
    return pool[_stable_index(seed, len(pool))]


def _locate(lines: list[str], kind: str, fragments: Sequence[str]) -> int:
    """Best-effort 1-based line of a template inside a TOML file (tomllib gives no positions)."""
    start = 0
    for index, line in enumerate(lines):
        if line.strip().startswith(f"[{kind}]"):
            start = index
            break
    for fragment in fragments:
        if not fragment:
            continue
        for index in range(start, len(lines)):
            if fragment in lines[index]:
                return index + 1
    return start + 1


class ReplyBook:
    """Loaded, validated templates. Immutable; cheap to call ``render`` per message."""

    def __init__(
        self,
        variants: dict[tuple[str, str], tuple[Variant, ...]],
        settings: RepliesSettings | None = None,
        language: str = "zh",
        nickname_fallback: str = "",
    ) -> None:
        self._variants = variants
        self.settings = settings or RepliesSettings()
        self.language = language
        # Used for {nickname} when the viewer's nickname is empty after cleaning ("亲").
        self.nickname_fallback = clean_value(nickname_fallback, self.settings.nickname_max_chars)

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, paths: Sequence[str | Path], settings: RepliesSettings | None = None) -> ReplyBook:
        """Load template files in order (later ones replace kind+channel lists of earlier ones).

        Raises ``TemplateFileError`` listing every problem as ``file:line: message``.
        """
        variants: dict[tuple[str, str], tuple[Variant, ...]] = {}
        problems: list[str] = []
        language: str = settings.language if settings else "zh"
        fallback = ""
        for path in paths:
            file = Path(path)
            try:
                raw = file.read_bytes().decode("utf-8")
                data = tomllib.loads(raw)
            except OSError as error:
                problems.append(f"{file}: cannot read: {error.strerror}")
                continue
            except UnicodeDecodeError as error:
                problems.append(f"{file}: not UTF-8 text (byte {error.start})")
                continue
            except tomllib.TOMLDecodeError as error:
                problems.append(f"{file}: invalid TOML: {error}")
                continue
            lines = raw.splitlines()
            file_language = data.pop("language", None)
            if isinstance(file_language, str) and file_language in NAME_SEPARATOR:
                language = file_language
            file_fallback = data.pop("nickname_fallback", None)
            if isinstance(file_fallback, str):
                fallback = file_fallback
            variants.update(cls._parse_file(file, data, lines, problems))
        if problems:
            raise TemplateFileError(problems)
        return cls(variants, settings, language, fallback)

    @classmethod
    def from_settings(cls, settings: RepliesSettings, base_dir: str | Path = ".") -> ReplyBook:
        """Built-in templates for ``settings.language``, then ``extra_templates`` (relative to ``base_dir``)."""
        extra = [Path(p).expanduser() for p in settings.extra_templates]
        paths = [*default_template_paths(settings.language), *(p if p.is_absolute() else Path(base_dir) / p for p in extra)]
        return cls.load(paths, settings)

    @staticmethod
    def _parse_file(
        file: Path, data: dict[str, Any], lines: list[str], problems: list[str]
    ) -> dict[tuple[str, str], tuple[Variant, ...]]:
        found: dict[tuple[str, str], tuple[Variant, ...]] = {}
        for kind, table in data.items():
            if kind not in KINDS:
                line = _locate(lines, kind, [f"[{kind}]"])
                problems.append(f"{file}:{line}: unknown kind [{kind}]; allowed: {', '.join(KINDS)}")
                continue
            if not isinstance(table, dict):
                problems.append(f"{file}:{_locate(lines, kind, [])}: [{kind}] must be a table of channel lists")
                continue
            for channel, texts in table.items():
                where = f"{file}:{_locate(lines, kind, [channel])}"
                if channel not in CHANNELS:
                    problems.append(f"{where}: {kind}.{channel}: unknown channel; allowed: {', '.join(CHANNELS)}")
                    continue
                if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                    problems.append(f"{where}: {kind}.{channel} must be a list of strings")
                    continue
                parsed: list[Variant] = []
                for index, text in enumerate(texts):
                    line = _locate(lines, kind, [text[:30]])
                    if not text.strip():
                        problems.append(f"{file}:{line}: {kind}.{channel}[{index}]: empty template")
                        continue
                    try:
                        template = parse_template(text)
                    except TemplateSyntaxError as error:
                        line = _locate(lines, kind, [error.fragment, text[:30]])
                        problems.append(f"{file}:{line}: {kind}.{channel}[{index}]: {error}")
                        continue
                    parsed.append(Variant(f"{kind}.{channel}#{index}", template, f"{file.name}:{line}"))
                found[(kind, channel)] = tuple(parsed)
        return found

    # -- queries ---------------------------------------------------------------------------
    def variants(self, kind: str, channel: str) -> tuple[Variant, ...] | None:
        return self._variants.get((kind, channel))

    def max_chars(self, platform: str, channel: str) -> int:
        return self.settings.limit_for(platform, channel)

    def values(self, context: ReplyContext) -> dict[str, str]:
        """The cleaned, non-empty values available for ``context``."""
        s = self.settings
        values: dict[str, str] = {}
        nickname = clean_value(context.nickname, s.nickname_max_chars) or self.nickname_fallback
        if nickname:
            values["nickname"] = nickname
        names = [n for n in (clean_value(x, s.nickname_max_chars) for x in context.names[:50]) if n]
        if names:
            values["names"] = NAME_SEPARATOR.get(self.language, "、").join(names)
        product = context.product
        if product is not None:
            if product.name and (name := clean_value(product.name, s.product_max_chars)):
                values["product"] = name
            if product.link_number is not None and 0 < product.link_number < 10_000:
                values["link_number"] = str(product.link_number)
            if product.price is not None and 0 <= product.price < 1e9 and product.price == product.price:
                values["price"] = format_price(product.price, product.currency)
            if product.stock is not None and 0 < product.stock < 1e9:
                values["stock"] = str(product.stock)
        for name, raw in (("next_live", context.next_live), ("title", context.title), ("store", context.store)):
            if raw and (text := clean_value(raw, 40)):
                values[name] = text
        if context.minutes is not None and 0 <= context.minutes < 100_000:
            values["minutes"] = str(context.minutes)
        return values

    def candidates(self, kind: str, channel: str, platform: str, context: ReplyContext) -> list[Candidate] | NoReply:
        """Every variant that can be rendered for ``context`` within the length limit."""
        variants = self._variants.get((kind, channel))
        if variants is None:
            return NoReply("no_template", f"no {kind} template for {channel}")
        if not variants:
            return NoReply("disabled", f"{kind}.{channel} has no variants (switched off)")
        values = self.values(context)
        eligible = [v for v in variants if v.template.variables <= values.keys()]
        if not eligible:
            needed = sorted(set().union(*(v.template.variables for v in variants)) - values.keys())
            return NoReply("missing_values", f"every {kind}.{channel} variant needs one of: {', '.join(needed)}")
        # Prefer variants that state facts (price, link number, ...) when the facts are known.
        factual = [v for v in eligible if v.template.variables & FACT_VARIABLES]
        tiers = [factual, [v for v in eligible if v not in factual]] if factual else [eligible]
        limit = self.max_chars(platform, channel)
        shortest = None
        for tier in tiers:
            whole: list[Candidate] = []
            cut: list[Candidate] = []
            for variant in tier:
                text = variant.template.fill(values)
                if len(text) <= limit:
                    whole.append(Candidate(variant.variant_id, text))
                    continue
                shortest = len(text) if shortest is None else min(shortest, len(text))
                nickname = values.get("nickname")
                if nickname and "nickname" in variant.template.variables:
                    keep = len(nickname) - (len(text) - limit) // max(1, _count(variant.template, "nickname"))
                    while keep >= MIN_NICKNAME_CHARS:
                        shorter = variant.template.fill({**values, "nickname": nickname[:keep].rstrip() or nickname[:1]})
                        if len(shorter) <= limit:
                            cut.append(Candidate(variant.variant_id, shorter, nickname_cut=True))
                            break
                        keep -= 1
            if whole or cut:
                return whole or cut
        return NoReply("too_long", f"no {kind}.{channel} variant fits {limit} characters on {platform} (shortest {shortest})")

    def render(
        self,
        kind: str,
        channel: str,
        platform: str,
        context: ReplyContext,
        avoid: Sequence[str] = (),
        key: str = "",
    ) -> Rendered | NoReply:
        """Render one reply, or say why none can be sent. Never raises for any context.

        ``avoid``: the texts and/or variant ids recently sent to the same room/target, oldest
        first (rotation). ``key``: the idempotency key; the same key and inputs give the same text.
        """
        found = self.candidates(kind, channel, platform, context)
        if isinstance(found, NoReply):
            return found
        chosen = choose_variant(found, avoid, key or f"{kind}:{channel}")
        if chosen is None:
            return NoReply("repeat", f"every {kind}.{channel} variant would repeat the last message to this target")
        return Rendered(chosen.text, chosen.variant_id, kind, channel, nickname_cut=chosen.nickname_cut)

    def fits(self, kind: str, channel: str, platform: str, context: ReplyContext) -> bool:
        """True when some variant renders within the limit without cutting the nickname."""
        found = self.candidates(kind, channel, platform, context)
        return not isinstance(found, NoReply) and any(not c.nickname_cut for c in found)


def _count(template: Template, name: str) -> int:
    return sum(1 for s in template.segments if not isinstance(s, str) and s.name == name)
