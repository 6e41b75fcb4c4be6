"""The keyword matcher: normalise → Aho–Corasick → explain, negate, score.

Hot path (every message, a few µs): ``normalise_fast`` + ONE Aho–Corasick pass over keywords,
variants, exclusions, objections, complaints, the required literals ("anchors") of list patterns
and the homophone character pairs of pinyin keywords. From its matches alone the fast path
proves most messages are not leads: a complaint anywhere, hits overlapped by an objection or
exclusion, question-only hits without any possible question, and an upper bound of the score
(every remaining hit accepted, damped by length) below ``min_score``. Only gated list patterns
and pinyin run after it. A long text (review, story) is decided on a normalised prefix.

Slow path (only messages with a candidate): normalise again with an offset map so spans point
into the original text; build a ``Hit`` per keyword occurrence; reject hits overlapped by an
exclusion or objection phrase, in a clause about a thing of the stream (not_goods: "这动捕多少钱"),
negated by a nearby negator in the same clause ("不要链接"), a purchase or wish of someone else
("你抢到了吗"), remarks where a question is required ("这么便宜" vs "便宜吗"), and short keywords
that jieba says sit inside a longer word (钱 in 钱包) or across two (多大 in 多伦多|大学); reject
every hit of a message whose remarks add up to a review of goods already received (review
markers: 好评, 物流, 用着 ...); add typo-tolerant English; resolve the product.
``match`` and ``explain`` always return the same intents (tests check it on examples and
hypothesis input); ``explain`` also lists hits the fast path never needed to look at.
"""

from __future__ import annotations

import hashlib
import re
import threading
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import ahocorasick_rs

from keywords.anchors import anchors
from keywords.api import INTENTS, NONE_INTENT, Hit, MatchResult, ProductRef
from keywords.catalogue import Catalogue
from keywords.lists import KeywordList
from keywords.normalise import Normalised, normalise, normalise_fast
from keywords.pinyin import char_span, pair_literals, to_pinyin

MAX_MATCH_CHARS = 2_000  # longer messages are matched on their first 2,000 characters
KW, EXCLUDE, PHRASE, COMPLAINT, ANCHOR, PY_GATE, REVIEW, NOT_GOODS = 0, 1, 2, 3, 4, 5, 6, 7
DEFAULT_REVIEW_THRESHOLD = 1.0
CACHE_TEXT_CHARS = 32  # results of texts up to this long are cached (chat repeats itself)
CACHE_SIZE = 4096
LONG_PREFIX = 160  # characters normalised first to tell a long review from a chat line
PREFIX_SLACK = 16  # how much shorter the full normalised text can be than its prefix's (emotes, repeats)
SHORT_MESSAGE = 20  # normalised characters; longer statements get their scores damped
JIEBA_CONTEXT = 6  # characters each side of a short hit given to jieba
SHORT_NUMBER_MESSAGE = 4  # "3号", "要3号", "#3": a bare number is an ask only in a message this short
QUESTION_PARTICLES = ("吗", "么", "嘛")
# A keyword that starts with a question word begins its own phrase: a negator further back
# negates something else (不太穿怎么用), only one right before it negates the question (不怎么用).
INTERROGATIVE_STARTS = ("怎么", "什么", "多少", "几", "哪", "啥", "咋", "有没有", "能不能", "是不是", "可不可以")
EXISTENTIAL_NEGATORS = frozenset({"没有", "没"})
# A clause ending in 吧 is a confirmation question (新鲜吧, 是吧) unless it is a request or a
# suggestion: 把…吧, 帮我…吧, 给我…吧, 让…吧, 请…吧, 我们/咱们…吧.
IMPERATIVE_BA_RE = re.compile(r"(?:把|帮我|给我|帮忙|让|请|咱们|我们|一起|快点|赶紧|别).*吧$")
RHETORICAL = "难道"  # a question with 难道 is a reproach, never an ask
# "也太小了吧", "太慢了点吧": 太 … 吧 exclaims, it does not ask for confirmation.
EXCLAIMED_BA_RE = re.compile(r"太[^吧]{1,8}吧$")
CLAUSE_BREAKS = frozenset("，。！？!?,.;；\n、~～…")
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUMBER_RE = re.compile(
    r"#(?P<hash>\d{1,3})(?!\d)"
    r"|(?<![\d月周第])(?P<num>\d{1,3}|[一二两三四五六七八九十]{1,3})(?:号|#)(?P<after>链接|link|lj|宝贝|商品|产品|款|车)?"
    r"|(?:链接|link)(?P<tail>\d{1,3})(?!\d)"
)
# "3号" followed by these is a date or a time, not a product number.
_DATE_AFTER = (
    "生日", "那天", "晚上", "早上", "上午", "下午", "中午", "开始", "之前", "以前", "以后", "之后", "前", "后",
    "直播", "开播", "见", "放假", "出发", "回", "到", "发工资", "上班", "考试", "线", "楼", "位", "球", "机",
)
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_AB_RE = re.compile(r"(.)[不没]\1")  # A-not-A questions: 要不要, 有没有, 买不买
# A purchase or a wish whose subject is someone else is not the viewer's: "你抢到了吗" asks the
# streamer, "他拍了" tells about a friend. The subject ends the clause text before the hit
# (adverbs between them allowed: 你也买了, 他已经拍了).
_OTHER_SUBJECT_RE = re.compile(r"(?:你们|他们|她们|你|您|他|她|别人|人家)(?:也|都|还|就|已经|刚刚|刚|早就|没)*$")
_OTHER_SUBJECT_INTENTS = {"ordered": _OTHER_SUBJECT_RE, "want": re.compile(r"(?:你们|你|您)(?:也|都|还|就|真|不)*$")}


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: int
    intent: str  # "" for global objection phrases
    keyword: str  # canonical keyword (or the phrase)
    rule: str  # exact | variant | abbreviation
    weight: float
    list_name: str
    question_only: bool = False
    ascii_start: bool = False
    ascii_end: bool = False
    ref: int = -1  # ANCHOR: index of the list pattern this literal gates


@dataclass(frozen=True, slots=True)
class _Pattern:
    intent: str
    regex: re.Pattern[str]
    source: str
    weight: float
    list_name: str
    question_only: bool = False
    name: str = ""  # readable name from the list (shown instead of the regex)

    @property
    def label(self) -> str:
        return self.name or self.source


@dataclass
class _KeywordSpec:
    intent: str
    keyword: str
    weight: float
    list_name: str
    question_only: bool
    variants: list[str] = field(default_factory=list)
    pinyin: bool = False


def _is_ascii_alnum(c: str) -> bool:
    return c in _ASCII_ALNUM


_FINAL_PARTICLE_RE = re.compile(r"[?？﹖]|[不没吧](?=[，。！？!?,.;；\s~～…]|$)")
_ME_RE = re.compile(r"(?<![什怎这那多要])么")
_CJK_RE = re.compile(r"[\u3400-\u9fff]")
_ASCII_WORD_RE = re.compile(r"[a-z]{2}")
_EN_TOKEN_RE = re.compile(r"[a-z]+")


def _has_cjk(text: str) -> bool:
    return _CJK_RE.search(text) is not None


class KeywordMatcher:
    """An immutable, compiled set of keyword lists (+ optional catalogue). Implements ``api.Matcher``."""

    def __init__(
        self,
        lists: Sequence[KeywordList],
        catalogue: Catalogue | None = None,
        *,
        min_score: float = 0.5,
        use_jieba: bool = True,
        catalogue_text: str = "",
    ) -> None:
        self.lists = tuple(lists)
        self.catalogue = catalogue
        self.min_score = min_score
        self.use_jieba = use_jieba
        digest = hashlib.sha256()
        for kl in self.lists:
            digest.update(kl.name.encode() + b"\0" + kl.text.encode("utf-8", "surrogatepass") + b"\0")
        digest.update(catalogue_text.encode("utf-8", "surrogatepass"))
        digest.update(f"{min_score}".encode())
        self.version = digest.hexdigest()[:12]
        self._cache: dict[str, MatchResult] = {}
        self._build()

    # ------------------------------------------------------------------ compile
    def _build(self) -> None:
        specs: dict[tuple[str, str], _KeywordSpec] = {}
        excludes: list[tuple[str, str, str]] = []  # (intent, phrase, list)
        phrases: list[tuple[str, str]] = []
        complaints: list[tuple[str, str]] = []
        not_goods: list[tuple[str, str]] = []
        patterns: list[_Pattern] = []
        negators_before: dict[str, int] = {}
        negators_after: list[str] = []
        not_negators: list[str] = []
        markers: list[str] = []
        not_markers: list[str] = []
        review_markers: list[tuple[str, float, str]] = []  # (marker, weight, list)
        review_threshold = DEFAULT_REVIEW_THRESHOLD
        for kl in self.lists:
            review_markers.extend((m, kl.review.weights.get(m, 1.0), kl.name) for m in kl.review.markers)
            if kl.review.threshold is not None:
                review_threshold = kl.review.threshold  # a merchant's list over the defaults decides
            neg = kl.negation
            window = neg.window or 4
            for word in neg.before:
                norm = normalise_fast(word)
                if norm:
                    negators_before[norm] = max(window, negators_before.get(norm, 0))
            negators_after.extend(normalise_fast(w) for w in neg.after)
            not_negators.extend(normalise_fast(w) for w in neg.not_negators)
            phrases.extend((p, kl.name) for p in neg.phrases)
            complaints.extend((p, kl.name) for p in neg.complaints)
            not_goods.extend((p, kl.name) for p in neg.not_goods)
            markers.extend(kl.question_markers)
            not_markers.extend(kl.not_question_markers)
            for intent, sec in kl.sections.items():
                for kw in sec.remove:
                    for key in [k for k in specs if k[0] == intent and normalise_fast(k[1]) == normalise_fast(kw)]:
                        del specs[key]
                for kw, q_only in [(k, False) for k in sec.keywords] + [(k, True) for k in sec.question_only]:
                    weight = sec.weights.get(kw, sec.weight)
                    specs[(intent, kw)] = _KeywordSpec(intent, kw, weight, kl.name, q_only)
                for kw, variants in sec.variants.items():
                    if (intent, kw) in specs:
                        specs[(intent, kw)].variants.extend(variants)
                for kw in sec.pinyin:
                    if (intent, kw) in specs:
                        specs[(intent, kw)].pinyin = True
                excludes.extend((intent, p, kl.name) for p in sec.exclude)
                patterns.extend(
                    _Pattern(intent, re.compile(p), p, sec.weight, kl.name, False, sec.pattern_names.get(p, ""))
                    for p in sec.patterns
                )
                patterns.extend(
                    _Pattern(intent, re.compile(p), p, sec.weight, kl.name, True, sec.pattern_names.get(p, ""))
                    for p in sec.question_patterns
                )

        table: dict[str, list[_Entry]] = {}

        def add(pattern: str, entry: _Entry) -> None:
            norm = normalise_fast(pattern)
            if not norm or norm == " ":
                return
            entry = replace(entry, ascii_start=_is_ascii_alnum(norm[0]), ascii_end=_is_ascii_alnum(norm[-1]))
            bucket = table.setdefault(norm, [])
            if entry not in bucket:
                bucket.append(entry)

        pinyin_patterns: dict[str, list[_Entry]] = {}
        for spec in specs.values():
            base = _Entry(KW, spec.intent, spec.keyword, "exact", spec.weight, spec.list_name, spec.question_only)
            add(spec.keyword, base)
            for variant in spec.variants:
                rule = "abbreviation" if any(c.isascii() for c in variant) else "variant"
                add(variant, replace(base, rule=rule))
            # A question particle is one of a family: 有货吗 = 有货么 = 有货嘛 (rule "particle").
            norm_kw = normalise_fast(spec.keyword)
            if len(norm_kw) >= 3 and norm_kw[-1] in QUESTION_PARTICLES:
                for particle in QUESTION_PARTICLES:
                    if particle != norm_kw[-1]:
                        add(norm_kw[:-1] + particle, replace(base, rule="particle"))
            if spec.pinyin:
                py = to_pinyin(normalise_fast(spec.keyword))
                if "#" not in py:
                    pinyin_patterns.setdefault(py, []).append(replace(base, rule="pinyin"))
        for intent, phrase, list_name in excludes:
            add(phrase, _Entry(EXCLUDE, intent, phrase, "exclude", 0.0, list_name))
        for phrase, list_name in phrases:
            add(phrase, _Entry(PHRASE, "", phrase, "objection", 0.0, list_name))
        for phrase, list_name in complaints:
            add(phrase, _Entry(COMPLAINT, "", phrase, "complaint", 0.0, list_name))
        for phrase, list_name in not_goods:
            add(phrase, _Entry(NOT_GOODS, "", phrase, "not_goods", 0.0, list_name))
        # Required literals of list patterns join the same automaton: a pattern runs only on
        # messages where one of them occurs (patterns without a provable anchor run always).
        always: list[int] = []
        for ref, pat in enumerate(patterns):
            literals = anchors(pat.source)
            if literals is None or any(normalise_fast(lit) != lit for lit in literals):
                always.append(ref)
                continue
            for literal in literals:
                add(literal, _Entry(ANCHOR, pat.intent, pat.label, "anchor", 0.0, pat.list_name, ref=ref))

        # Pinyin: the pass over syllables runs only where a pair of characters that could start
        # (part of) a curated homophone occurs; those pairs join the one automaton too.
        py_pairs: set[str] = set()
        for py in pinyin_patterns:
            py_pairs |= pair_literals(py)
        for pair in sorted(py_pairs):
            add(pair, _Entry(PY_GATE, "", pair, "pinyin_gate", 0.0, ""))

        self._patterns = list(table)
        self._entries = [table[p] for p in self._patterns]
        self._ac = ahocorasick_rs.AhoCorasick(self._patterns) if self._patterns else None
        # Per automaton pattern: the keyword entries (intent, keyword, weight, question_only) and
        # the list patterns it gates; the fast path needs nothing else.
        self._kw_info = [
            tuple((e.intent, e.keyword, e.weight, e.question_only) for e in entries if e.kind == KW)
            for entries in self._entries
        ]
        self._anchor_refs = [tuple(e.ref for e in entries if e.kind == ANCHOR) for entries in self._entries]
        self._blocker_info = [
            tuple((e.kind, e.intent, e.ascii_start, e.ascii_end) for e in entries if e.kind in (EXCLUDE, PHRASE, COMPLAINT))
            for entries in self._entries
        ]
        self._always_patterns = tuple(always)
        self._py_gated = [any(e.kind == PY_GATE for e in entries) for entries in self._entries]
        self._py_patterns = list(pinyin_patterns)
        self._py_entries = [pinyin_patterns[p] for p in self._py_patterns]
        self._py_ac = ahocorasick_rs.AhoCorasick(self._py_patterns) if self._py_patterns else None
        self._list_patterns = patterns
        self._neg_before = sorted(negators_before.items(), key=lambda kv: -len(kv[0]))
        self._neg_after = [w for w in dict.fromkeys(negators_after) if w]
        self._not_negators = sorted({w for w in not_negators if w}, key=len, reverse=True)
        norm_markers = [normalise_fast(m) for m in markers]
        self._markers = [m for m in dict.fromkeys(norm_markers) if m and m != " "]
        self._ascii_markers = {m for m in self._markers if m.isascii()}
        alternatives = [
            r"(?<![a-z0-9])" + re.escape(m) + r"(?![a-z0-9])" if m in self._ascii_markers else re.escape(m)
            for m in sorted(self._markers, key=len, reverse=True)
        ]
        self._marker_re = re.compile("|".join(alternatives)) if alternatives else None
        self._not_markers = sorted({normalise_fast(m) for m in not_markers} - {"", " "}, key=len, reverse=True)
        self.keyword_count = len(specs)
        self.specs = specs
        self.exclusions = excludes
        self.objections = phrases
        self.complaints = complaints
        self.not_goods = not_goods
        self.review_markers = review_markers
        self.review_threshold = review_threshold
        # Review markers are common words (不错, 快递): they get their own automaton, run only on
        # messages that already have a candidate hit, so the fast path never pays for them.
        review_table: dict[str, list[_Entry]] = {}
        for marker, weight, list_name in review_markers:
            norm_marker = normalise_fast(marker)
            if norm_marker and norm_marker != " ":
                review_table.setdefault(norm_marker, []).append(
                    _Entry(REVIEW, "", marker, "review", weight, list_name)
                )
        self._review_patterns = list(review_table)
        self._review_entries = [review_table[p] for p in self._review_patterns]
        self._review_ac = ahocorasick_rs.AhoCorasick(self._review_patterns) if self._review_patterns else None
        # English keywords for typo tolerance: multi-letter, all ASCII.
        en = sorted({s.keyword for s in specs.values() if s.keyword.isascii() and len(s.keyword.replace(" ", "")) >= 6})
        self._en_fuzzy = [(normalise_fast(k), k) for k in en]
        index: dict[str, dict[int, list[tuple[str, str]]]] = {}
        for norm_kw, keyword in self._en_fuzzy:
            index.setdefault(norm_kw[0], {}).setdefault(norm_kw.count(" ") + 1, []).append((norm_kw, keyword))
        self._en_index = {first: sorted(by_size.items()) for first, by_size in index.items()}
        self._en_by_kw: dict[str, list[_KeywordSpec]] = {}
        for spec in specs.values():
            if spec.keyword in en:
                self._en_by_kw.setdefault(spec.keyword, []).append(spec)
        self._jieba_words = [s.keyword for s in specs.values() if _has_cjk(s.keyword)]

    def warm_up(self) -> None:
        """Load the lazily built tables (pinyin, jieba's dictionary) now; call it off the event loop."""
        from keywords.pinyin import pinyin_table
        from keywords.segment import warm_up

        pinyin_table()
        if self.use_jieba:
            warm_up()
            _jieba_tokens("链接", self._jieba_words)

    # ------------------------------------------------------------------ matching
    def match_many(self, texts: Sequence[str]) -> list[MatchResult]:
        return [self.match(t) for t in texts]

    def match(self, text: str) -> MatchResult:
        """The decision, fast. Messages that cannot yield an accepted hit return without hits.

        Live chat repeats itself (copy-paste spam, 扣1, 哈哈哈): results of short texts are kept in a
        small per-matcher cache. A ``MatchResult`` is immutable and the matcher never changes
        (a reload builds a new matcher), so a cached result is exactly the computed one.
        """
        if isinstance(text, str) and len(text) <= CACHE_TEXT_CHARS:
            cache = self._cache
            cached = cache.get(text)
            if cached is not None:
                return cached
            result = self._match(text, full=False)
            if len(cache) >= CACHE_SIZE:
                cache.clear()  # bounded; cheaper than LRU bookkeeping, and spam refills it at once
            cache[text] = result
            return result
        return self._match(text, full=False)

    def clear_cache(self) -> None:
        """Forget cached results (benchmarks measure a cold cache per run)."""
        self._cache.clear()

    def explain(self, text: str) -> MatchResult:
        """The decision with every hit considered, including those the fast path skips
        (a remark such as "这么便宜" shows its rejected 便宜 hit). Same intents as ``match``."""
        return self._match(text, full=True)

    def _match(self, text: str, *, full: bool) -> MatchResult:
        if not isinstance(text, str) or not text:
            return MatchResult(text=text if isinstance(text, str) else "")
        work = text if len(text) <= MAX_MATCH_CHARS else text[:MAX_MATCH_CHARS]
        if not full and len(work) > LONG_PREFIX:
            # A long text (review, story) cannot reach min_score even with its best keyword:
            # decide on a normalised prefix instead of normalising and scanning all of it.
            prefix = normalise_fast(work[:LONG_PREFIX])
            if _length_factor(len(prefix) - PREFIX_SLACK, True) < self.min_score - 1e-9:
                return MatchResult(text=text)
        norm_text = normalise_fast(work)
        if not norm_text:
            return MatchResult(text=text)
        if not full and _length_factor(len(norm_text), True) < self.min_score - 1e-9:
            return MatchResult(text=text)
        if not self._has_candidate(norm_text, work, full):
            return MatchResult(text=text)
        return self._explain(text, work)

    def _has_candidate(self, nt: str, work: str, full: bool) -> bool:
        """One automaton pass, then an upper bound of the score: could any hit make this a lead?

        Every source of a hit (keywords and variants, list patterns gated by their anchors, link
        numbers, pinyin homophones, English typos) adds its best weight, as if nothing were
        rejected; question-only hits count only if some clause may be a question. ``explain``
        (``full``) goes on whenever anything at all is found, to show rejected hits too.
        """
        items: list[tuple[str, str, float, bool]] = []
        refs: list[int] = list(self._always_patterns)
        pinyin = False
        if self._ac is not None:
            matches = self._ac.find_matches_as_indexes(nt, overlapping=True)
            if full and matches:
                return True
            kw_info = self._kw_info
            anchor_refs = self._anchor_refs
            blocker_info = self._blocker_info
            py_gated = self._py_gated
            blocks: list[tuple[int, str, int, int]] = []  # (kind, intent, start, end)
            for pid, start, end in matches:
                for kind, intent, ascii_start, ascii_end in blocker_info[pid]:
                    if not _ascii_bounded(nt, start, end, ascii_start, ascii_end):
                        continue
                    if kind == COMPLAINT:
                        return False  # an after-sales complaint rejects every hit of the message
                    blocks.append((kind, intent, start, end))
            for pid, start, end in matches:
                if kw_info[pid]:
                    if blocks:
                        items.extend(i for i in kw_info[pid] if not _blocked(nt, i[0], start, end, blocks))
                    else:
                        items.extend(kw_info[pid])
                if anchor_refs[pid]:
                    refs.extend(anchor_refs[pid])
                if py_gated[pid]:
                    pinyin = True
        if refs:
            for ref in dict.fromkeys(refs):
                pat = self._list_patterns[ref]
                if pat.regex.search(nt) is not None:
                    items.append((pat.intent, pat.source, pat.weight, pat.question_only))
        if "号" in nt or "#" in nt or "链接" in nt or "link" in nt:
            number, number_hit = self._link_number(nt, [])
            if number_hit is not None:
                entry = number_hit[0]
                if entry.rule == "number" or len(nt) <= SHORT_NUMBER_MESSAGE or items:
                    items.append(("link", "(link number)", entry.weight, False))
        if pinyin and self._py_ac is not None:
            for pid, _, _ in self._py_ac.find_matches_as_indexes(to_pinyin(nt), overlapping=True):
                items.extend((e.intent, e.keyword, e.weight, e.question_only) for e in self._py_entries[pid])
        if self._en_fuzzy and _ascii_words(nt):
            items.extend((e.intent, e.keyword, e.weight, e.question_only) for e, _, _ in self._english_fuzzy(nt, []))
        if not items:
            return False
        if full:
            return True
        return self._can_reach_min_score(items, nt, work)

    def _explain(self, text: str, work: str) -> MatchResult:
        norm = normalise(work)
        nt = norm.text
        notes: list[str] = []
        if len(text) > MAX_MATCH_CHARS:
            notes.append(f"matched the first {MAX_MATCH_CHARS} of {len(text)} characters")
        is_question = self._is_question(work, nt)
        candidates: list[tuple[_Entry, int, int]] = []
        blockers: list[tuple[_Entry, int, int]] = []
        refs: set[int] = set(self._always_patterns)
        pinyin = False
        if self._ac is not None:
            for pid, start, end in self._ac.find_matches_as_indexes(nt, overlapping=True):
                for entry in self._entries[pid]:
                    if entry.kind == ANCHOR:
                        refs.add(entry.ref)  # a pattern can only match where its literal is
                        continue
                    if entry.kind == PY_GATE:
                        pinyin = True
                        continue
                    if entry.ascii_start and start > 0 and _is_ascii_alnum(nt[start - 1]):
                        continue
                    if entry.ascii_end and end < len(nt) and _is_ascii_alnum(nt[end]):
                        continue
                    if entry.kind == KW:
                        candidates.append((entry, start, end))
                    else:
                        blockers.append((entry, start, end))
        if pinyin and self._py_ac is not None:
            py = to_pinyin(nt)
            exact_spans = {(s, e) for _, s, e in candidates}
            for pid, pstart, pend in self._py_ac.find_matches_as_indexes(py, overlapping=True):
                start, end = char_span(py, pstart, pend)
                if (start, end) in exact_spans:
                    continue
                for entry in self._py_entries[pid]:
                    if nt[start:end] == normalise_fast(entry.keyword):
                        continue
                    candidates.append((entry, start, end))
        for ref in sorted(refs):
            pattern = self._list_patterns[ref]
            for m in pattern.regex.finditer(nt):
                if m.end() > m.start():
                    entry = _Entry(
                        KW, pattern.intent, pattern.label, "pattern", pattern.weight, pattern.list_name,
                        pattern.question_only,
                    )
                    candidates.append((entry, m.start(), m.end()))
        if self._en_fuzzy and _ascii_words(nt):
            candidates.extend(self._english_fuzzy(nt, candidates))
        link_number, number_hit = self._link_number(nt, candidates)
        if number_hit is not None:
            candidates.append(number_hit)

        # A hit inside a longer hit of the same intent adds nothing (链接 inside 几号链接).
        candidates = _drop_contained(candidates)
        hits: list[Hit] = []
        for blocker, b_start, b_end in blockers:
            if blocker.kind not in (PHRASE, COMPLAINT) or _a_not_a(nt, b_start):
                continue
            if blocker.kind == COMPLAINT and candidates:
                continue  # explained on the keyword hits it rejects
            if any(s < b_end and b_start < e for _, s, e in candidates):
                continue  # explained on the keyword hit it rejects
            span = norm.span(b_start, b_end)
            complaint = blocker.kind == COMPLAINT
            hits.append(
                Hit(
                    intent=NONE_INTENT,
                    keyword=blocker.keyword,
                    rule="complaint" if complaint else "objection",
                    span=span,
                    matched=work[span[0] : span[1]],
                    weight=0.0,
                    accepted=False,
                    rejected_because=(
                        f"after-sales complaint {blocker.keyword!r}: post-purchase talk, not a lead"
                        if complaint
                        else f"objection {blocker.keyword!r}: negated or refused, not a lead"
                    ),
                    list_name=blocker.list_name,
                    negation_checked=True,
                    norm_span=(b_start, b_end),
                )
            )
        jieba_needed: list[int] = []
        for entry, start, end in candidates:
            reason = self._reject_reason(entry, start, end, nt, norm, work, blockers, is_question)
            span = norm.span(start, end)
            hit = Hit(
                intent=entry.intent,
                keyword=entry.keyword,
                rule=_rule_for(entry, work[span[0] : span[1]]),
                span=span,
                matched=work[span[0] : span[1]],
                weight=entry.weight,
                accepted=reason is None,
                rejected_because=reason,
                list_name=entry.list_name,
                negation_checked=True,
                norm_span=(start, end),
            )
            if reason is None and self.use_jieba and _needs_word_check(entry, start, end, nt):
                jieba_needed.append(len(hits))
            hits.append(hit)
        if jieba_needed:
            for index in jieba_needed:
                start, end = hits[index].norm_span
                # A word around the hit is at most a few characters longer: segment a window only.
                lo, hi = max(0, start - JIEBA_CONTEXT), min(len(nt), end + JIEBA_CONTEXT)
                tokens = _jieba_tokens(nt[lo:hi], self._jieba_words)
                word = _enclosing_word(tokens, start - lo, end - lo)
                if word is not None:
                    hits[index] = replace(hits[index], accepted=False, rejected_because=f"part of the word {word}")
                    continue
                pair = _straddled_words(tokens, start - lo, end - lo)
                if pair is not None:
                    hits[index] = replace(
                        hits[index], accepted=False, rejected_because=f"spans two words {pair} (the end of one, the start of the next)"
                    )

        if self._review_ac is not None and any(h.accepted for h in hits):
            review_marks = [
                (entry, start, end)
                for pid, start, end in self._review_ac.find_matches_as_indexes(nt, overlapping=True)
                for entry in self._review_entries[pid]
            ]
            verdict = self._review_verdict(review_marks, norm, work)
            if verdict:
                reason = "reads like a review of goods already received: " + ", ".join(repr(m) for m in verdict)
                hits = [replace(h, accepted=False, rejected_because=reason) if h.accepted else h for h in hits]
                notes.append(reason)
                link_number = None
        # "3号" alone is a product number only in a short message or next to another accepted ask.
        for index, hit in enumerate(hits):
            if hit.rule == "weak_number" and hit.accepted:
                others = any(h.accepted and h is not hit for h in hits)
                if not others and len(nt) > SHORT_NUMBER_MESSAGE:
                    hits[index] = replace(
                        hit, accepted=False, rejected_because="a bare number in a longer message (date? banter?)"
                    )
                    link_number = None
        scores: dict[str, float] = {}
        counted: set[tuple[str, str]] = set()
        for hit in hits:
            if hit.accepted and (hit.intent, hit.keyword) not in counted:  # a repeated keyword counts once
                counted.add((hit.intent, hit.keyword))
                scores[hit.intent] = min(1.0, scores.get(hit.intent, 0.0) + hit.weight)
        damp = _length_factor(len(nt), is_question)
        if damp < 1.0 and scores:
            scores = {intent: value * damp for intent, value in scores.items()}
            notes.append(f"long statement ({len(nt)} chars, review-like): scores x{damp}")
        order = {name: i for i, name in enumerate(INTENTS)}
        intents = tuple(
            sorted((i for i, s in scores.items() if s >= self.min_score), key=lambda i: (-scores[i], order.get(i, 99)))
        )
        score = max(scores.values(), default=0.0)
        product: ProductRef | None = None
        if intents and self.catalogue is not None and len(self.catalogue):
            product = self.catalogue.resolve(nt, link_number)
            if product is not None:
                notes.append(f"product {product.product_id} via {product.via}")
        hits.sort(key=lambda h: (h.span[0], h.span[1]))
        return MatchResult(
            text=text,
            intents=intents,
            hits=tuple(hits),
            product=product,
            link_number=link_number,
            is_question=is_question,
            score=round(score, 3),
            notes=tuple(notes),
        )

    # ------------------------------------------------------------------ rules
    def _review_verdict(self, marks: list[tuple[_Entry, int, int]], norm: Normalised, work: str) -> list[str]:
        """The review markers that make this message a review, or [] when they do not add up.

        A buyer asks before the parcel comes and judges after: "质量不错", "物流很快", "好评".
        Only markers in remarks count ("质量好吗？" asks); overlapping markers count once, the
        longest (很好吃, not 很好 + 好吃); each distinct marker adds its weight.
        """
        chosen: list[tuple[_Entry, int, int]] = []
        for entry, start, end in sorted(marks, key=lambda m: (-(m[2] - m[1]), m[1])):
            if any(s < end and start < e for _, s, e in chosen):
                continue
            chosen.append((entry, start, end))
        total = 0.0
        counted: list[str] = []
        for entry, start, end in sorted(chosen, key=lambda m: m[1]):
            if entry.keyword in counted or self._clause_is_question(work, norm, start, end):
                continue
            counted.append(entry.keyword)
            total += entry.weight
        return counted if total >= self.review_threshold - 1e-9 else []

    def _is_question(self, work: str, nt: str) -> bool:
        if "?" in work or "？" in work or "﹖" in work:
            return True
        if not nt:
            return False
        for phrase in self._not_markers:
            if phrase in nt:
                nt = nt.replace(phrase, "_")
        if nt.endswith(("不", "没", "吗", "嘛", "呢")) and len(nt) > 1:
            return True  # 有链接不, 包邮没
        if nt.endswith("吧") and len(nt) > 1 and IMPERATIVE_BA_RE.search(nt) is None and EXCLAIMED_BA_RE.search(nt) is None:
            return True  # 新鲜吧, 是吧 (a confirmation question; not 把颜色揭开吧, not 也太小了吧)
        if _ME_RE.search(nt):
            return True  # 发货么, 有货么 (but not 什么, 怎么, 这么)
        return self._marker_re is not None and self._marker_re.search(nt) is not None

    def _can_reach_min_score(self, items: list[tuple[str, str, float, bool]], nt: str, work: str) -> bool:
        """Upper bound of the score: every found hit accepted, damped by length like _explain."""
        question: bool | None = None
        if any(q_only for _, _, _, q_only in items):
            question = self._maybe_question(work, nt)
        bound: dict[str, float] = {}
        seen: set[tuple[str, str]] = set()
        for intent, keyword, weight, q_only in items:
            if (q_only and not question) or (intent, keyword) in seen:
                continue
            seen.add((intent, keyword))
            bound[intent] = bound.get(intent, 0.0) + weight
        if not bound:
            return False
        if len(nt) <= SHORT_MESSAGE:
            factor = 1.0
        else:
            if question is None:
                question = self._maybe_question(work, nt)
            factor = _length_factor(len(nt), question)
        return min(1.0, max(bound.values())) * factor >= self.min_score - 1e-9

    def _maybe_question(self, work: str, nt: str) -> bool:
        """Conservative: False only when no clause of the message can be a question."""
        if _FINAL_PARTICLE_RE.search(work) is not None:
            return True
        return self._is_question(work, nt)

    def _clause_is_question(self, work: str, norm: Normalised, start: int, end: int) -> bool:
        """Is the clause around a hit a question? ("价格实惠，发货快吗" asks about 发货, not 价格)."""
        a, b = norm.span(start, end)
        lo = a
        while lo > 0 and not _clause_break(work, lo - 1):
            lo -= 1
        hi = b
        while hi < len(work) and not _clause_break(work, hi):
            hi += 1
        if RHETORICAL in work[lo:hi]:
            return False  # "你们发货难道不检查的？": 难道 asserts, it does not ask
        if hi < len(work) and work[hi] in "?？﹖":
            return not _exclaimed(work, hi)
        if hi < len(work) and work[hi] in "!！" and work[lo:hi].rstrip().endswith(QUESTION_PARTICLES):
            return False  # "包装可以更差点么！": a yes/no particle under an exclamation is rhetoric
        offsets = norm.offsets
        return self._is_question(work[lo:hi], norm.text[bisect_left(offsets, lo) : bisect_left(offsets, hi)])

    def _reject_reason(
        self,
        entry: _Entry,
        start: int,
        end: int,
        nt: str,
        norm: Normalised,
        work: str,
        blockers: list[tuple[_Entry, int, int]],
        is_question: bool,
    ) -> str | None:
        for blocker, _, _ in blockers:
            if blocker.kind == COMPLAINT:
                return f"after-sales complaint {blocker.keyword!r} in the message"
        for blocker, b_start, b_end in blockers:
            if blocker.kind == PHRASE and not _a_not_a(nt, b_start) and _same_clause(norm, work, b_start, b_end, start, end):
                return f"objection {blocker.keyword!r} in the same clause"
            if b_start < end and start < b_end:
                if _a_not_a(nt, b_start):
                    continue  # 要不要链接 is a question, not 不要链接
                if blocker.kind == PHRASE:
                    return f"objection {blocker.keyword!r}"
                # An exclusion inside a keyword is the keyword's own business (lint reports it as
                # dead); inside what a pattern matched (送灯牌吗 for 送…吗) it excludes.
                inside = b_start >= start and b_end <= end
                if blocker.intent == entry.intent and (not inside or entry.rule == "pattern"):
                    return f"exclusion {blocker.keyword!r}"
            if (
                blocker.kind == NOT_GOODS
                and not (start <= b_start and b_end <= end)  # 会员价 names it on purpose
                and _same_clause(norm, work, b_start, b_end, start, end)
            ):
                return f"about {blocker.keyword!r}, a thing of the stream or platform, not goods for sale"
        negation = self._negated(start, end, nt, norm, work)
        if negation is not None:
            return negation
        subject = _OTHER_SUBJECT_INTENTS.get(entry.intent)
        if subject is not None:
            found = subject.search(self._clause_before(start, nt, norm, work))
            if found is not None:
                return f"said of someone else ({found.group(0)!r}), not the viewer's own purchase or wish"
        if entry.question_only and not self._clause_is_question(work, norm, start, end):
            return "remark, not a question"
        return None

    @staticmethod
    def _clause_before(start: int, nt: str, norm: Normalised, work: str) -> str:
        """The normalised text before a hit, back to the clause's start (at most 24 original chars)."""
        orig_start = norm.offsets[start] if start < len(norm.offsets) else len(work)
        lo = max(0, orig_start - 24)
        for i in range(orig_start - 1, lo - 1, -1):
            if work[i] in CLAUSE_BREAKS:
                lo = i + 1
                break
        return nt[bisect_left(norm.offsets, lo) : start]

    def _negated(self, start: int, end: int, nt: str, norm: Normalised, work: str) -> str | None:
        if not self._neg_before and not self._neg_after:
            return None
        before = self._clause_before(start, nt, norm, work)
        if before:
            keyword_text = nt[start:end]
            joined = before + keyword_text
            cleaned = _AB_RE.sub("__", joined)[: len(before)]
            for word in self._not_negators:
                if word in cleaned:
                    cleaned = cleaned.replace(word, "_" * len(word))
            for word, window in self._neg_before:
                tail = cleaned[-(window + len(word)) :] if len(cleaned) > window else cleaned
                pos = tail.rfind(word)
                if pos < 0:
                    continue
                if word.isascii():
                    head_ok = pos == 0 or not _is_ascii_alnum(tail[pos - 1])
                    stop = pos + len(word)
                    tail_ok = stop >= len(tail) or not _is_ascii_alnum(tail[stop])
                    if not (head_ok and tail_ok):
                        continue
                distance = len(tail) - pos - len(word)
                if distance > window:
                    continue
                if distance > 0 and keyword_text.startswith(INTERROGATIVE_STARTS):
                    continue  # 不太穿怎么用: the negator ends its own verb phrase; a question word starts a new one
                if word in EXISTENTIAL_NEGATORS and _clause_ends_with_particle(norm, work, end):
                    continue  # 没有蓝色包装吗: "isn't there …?" asks, it does not refuse
                return f"negated by {word!r}"
        after = nt[end : end + 6]
        for word in self._neg_after:
            if after.startswith(word) or after[1:].startswith(word):
                return f"negated by {word!r} after it"
        return None

    def _english_fuzzy(self, nt: str, candidates: list[tuple[_Entry, int, int]]) -> list[tuple[_Entry, int, int]]:
        """Typo-tolerant English: "hwo much" → how much. Word windows vs keywords, same first letter."""
        from rapidfuzz import fuzz

        tokens = [(m.start(), m.end()) for m in _EN_TOKEN_RE.finditer(nt)][:60]
        if not tokens:
            return []
        found: list[tuple[_Entry, int, int]] = []
        have_kw = {entry.keyword for entry, _, _ in candidates}
        done: set[str] = set()
        for i, (s0, _) in enumerate(tokens):
            first = nt[s0]
            for size, choices in self._en_index.get(first, ()):
                if i + size > len(tokens):
                    continue
                e0 = tokens[i + size - 1][1]
                if size > 1 and any(tokens[k + 1][0] != tokens[k][1] + 1 for k in range(i, i + size - 1)):
                    continue  # words must be adjacent ("how much", not "how 多 much")
                window = nt[s0:e0]
                cutoff = 85.0 if size > 1 else 88.0
                for norm_kw, keyword in choices:
                    if keyword in have_kw or keyword in done or abs(len(window) - len(norm_kw)) > 2:
                        continue
                    score = fuzz.ratio(window, norm_kw, score_cutoff=cutoff)
                    if not score:
                        continue
                    done.add(keyword)
                    for spec in self._en_by_kw.get(keyword, []):
                        entry = _Entry(
                            KW, spec.intent, keyword, "fuzzy_en", round(spec.weight * score / 100, 3),
                            spec.list_name, spec.question_only,
                        )
                        found.append((entry, s0, e0))
        return found

    def _link_number(
        self, nt: str, candidates: list[tuple[_Entry, int, int]]
    ) -> tuple[int | None, tuple[_Entry, int, int] | None]:
        if "号" not in nt and "#" not in nt and "链接" not in nt and "link" not in nt:
            return None, None
        for m in _NUMBER_RE.finditer(nt):
            strong = m.group("hash") is not None or m.group("after") is not None or m.group("tail") is not None
            raw = m.group("hash") or m.group("num") or m.group("tail")
            number = _parse_number(raw)
            if number is None or number <= 0:
                continue
            rest = nt[m.end() :]
            if not strong and rest.startswith(_DATE_AFTER):
                continue
            rule = "number" if strong else "weak_number"
            entry = _Entry(KW, "link", m.group(0), rule, 0.6, "(link number)")
            return number, (entry, m.start(), m.end())
        return None, None


def _exclaimed(work: str, at: int) -> bool:
    """The question mark at ``work[at]`` is followed by an exclamation mark ("能吃吗？！"): rhetoric."""
    rest = work[at + 1 : at + 4].lstrip("?？﹖")
    return rest[:1] in ("!", "！")


def _clause_break(work: str, i: int) -> bool:
    """Punctuation ends a clause; so does a space between two runs of 2+ Chinese characters
    ("物美价廉 发货超快"), but not the spaces of spaced-out letters ("价 格 多 少")."""
    c = work[i]
    if c in CLAUSE_BREAKS:
        return True
    if c not in " \u3000\t" or i < 2 or i + 2 >= len(work):
        return False
    return all(_is_cjk_char(work[j]) for j in (i - 2, i - 1, i + 1, i + 2))


def _is_cjk_char(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff"


def _clause_ends_with_particle(norm: Normalised, work: str, end: int) -> bool:
    """The clause holding normalised position ``end`` ends in a yes/no particle (吗 么 嘛)."""
    hi = norm.offsets[end - 1] + 1 if end > 0 else 0
    while hi < len(work) and work[hi] not in CLAUSE_BREAKS:
        hi += 1
    clause_end = bisect_left(norm.offsets, hi)
    return norm.text[:clause_end].endswith(QUESTION_PARTICLES)


def _ascii_bounded(nt: str, start: int, end: int, ascii_start: bool, ascii_end: bool) -> bool:
    """An English word matched as a word (not "buy" inside "buyer")."""
    if ascii_start and start > 0 and nt[start - 1] in _ASCII_ALNUM:
        return False
    return not (ascii_end and end < len(nt) and nt[end] in _ASCII_ALNUM)


def _blocked(nt: str, intent: str, start: int, end: int, blocks: list[tuple[int, str, int, int]]) -> bool:
    """The fast path's share of ``_reject_reason``: an overlapping objection, or an overlapping
    exclusion of the same intent that is not inside the keyword (A-not-A questions excepted)."""
    for kind, b_intent, b_start, b_end in blocks:
        if b_start < end and start < b_end and not _a_not_a(nt, b_start):
            if kind == PHRASE:
                return True
            if kind == EXCLUDE and b_intent == intent and not (b_start >= start and b_end <= end):
                return True
    return False


def _same_clause(norm: Normalised, work: str, a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    """No clause break (，。！？ ...) in the original text between two normalised spans."""
    lo = norm.offsets[min(a_start, b_start)]
    hi = norm.offsets[max(a_end, b_end) - 1]
    return not any(c in CLAUSE_BREAKS for c in work[lo:hi])


def _length_factor(length: int, question: bool) -> float:
    """Chat asks are short; long texts are reviews or stories that mention buying in passing."""
    if length <= SHORT_MESSAGE:
        return 1.0
    if length <= 2 * SHORT_MESSAGE:
        return 0.8 if question else 0.7
    if length <= 3 * SHORT_MESSAGE:
        return 0.5 if question else 0.45
    return 0.45  # essays: below min_score even with a strong keyword (see notes)


def _a_not_a(nt: str, pos: int) -> bool:
    """``nt[pos]`` is 不/没 between two equal characters (要不要, 有没有, 买不买)."""
    return (
        nt[pos : pos + 1] in ("不", "没")
        and 0 < pos < len(nt) - 1
        and nt[pos - 1] == nt[pos + 1]
    )


def _ascii_words(nt: str) -> bool:
    return _ASCII_WORD_RE.search(nt) is not None


def _parse_number(raw: str | None) -> int | None:
    if not raw:
        return None
    if raw.isdigit():
        return int(raw)
    if raw == "十":
        return 10
    if "十" in raw:
        tens, _, ones = raw.partition("十")
        t = _CN_DIGITS.get(tens, 1) if tens else 1
        o = _CN_DIGITS.get(ones, 0) if ones else 0
        return t * 10 + o
    if len(raw) == 1:
        return _CN_DIGITS.get(raw)
    return None


def _drop_contained(candidates: list[tuple[_Entry, int, int]]) -> list[tuple[_Entry, int, int]]:
    """Drop hits inside a longer hit of the same intent, and repeated spans; keep the order.

    O(n log n): a hostile comment repeating a keyword thousands of times yields thousands of
    hits, and comparing every pair (as a first version did) took seconds per message.
    """
    spans_by_intent: dict[str, set[tuple[int, int]]] = {}
    for entry, start, end in candidates:
        spans_by_intent.setdefault(entry.intent, set()).add((start, end))
    contained: set[tuple[str, int, int]] = set()
    for intent, spans in spans_by_intent.items():
        # By start, longest first: a span lies inside a longer one iff an earlier (different)
        # span reaches at least as far.
        reach = -1
        for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
            if reach >= end:
                contained.add((intent, start, end))
            reach = max(reach, end)
    out: list[tuple[_Entry, int, int]] = []
    kept: set[tuple[str, int, int]] = set()
    for entry, start, end in candidates:
        key = (entry.intent, start, end)
        if key not in contained and key not in kept:
            kept.add(key)
            out.append((entry, start, end))
    return out


def _rule_for(entry: _Entry, matched: str) -> str:
    if entry.rule != "exact":
        return entry.rule
    if matched == entry.keyword:
        return "exact"
    simplified = normalise_fast(matched)
    if simplified == normalise_fast(entry.keyword) and any(
        normalise_fast(c) != c.lower() and _has_cjk(c) for c in matched
    ):
        return "traditional"
    return "normalised"


def _needs_word_check(entry: _Entry, start: int, end: int, nt: str) -> bool:
    """Short Chinese keywords can sit inside an unrelated word (钱 in 钱包, 拍了 in 拍了拍)."""
    if entry.rule in ("pattern", "fuzzy_en"):
        return False
    piece = nt[start:end]
    return len(piece) <= 2 and _has_cjk(piece)


_JIEBA_LOCK = threading.Lock()
_JIEBA_WORDS: set[str] = set()


def _jieba_tokens(nt: str, words: Sequence[str]) -> list[tuple[int, int, str]]:
    from keywords.segment import tokenizer

    with _JIEBA_LOCK:
        tk = tokenizer()
        missing = [w for w in words if w not in _JIEBA_WORDS]
        for w in missing:
            tk.add_word(normalise_fast(w))
            _JIEBA_WORDS.add(w)
        out = []
        for word, start, end in tk.tokenize(nt, HMM=False):
            out.append((start, end, word))
    return out


def _enclosing_word(tokens: list[tuple[int, int, str]], start: int, end: int) -> str | None:
    for t_start, t_end, word in tokens:
        if t_start <= start and end <= t_end and (t_end - t_start) > (end - start):
            return word
    return None


def _straddled_words(tokens: list[tuple[int, int, str]], start: int, end: int) -> str | None:
    """Both ends of the hit fall inside longer words: 多大 in 多伦多|大学 is neither word."""
    head = next((t for t in tokens if t[0] < start < t[1]), None)
    tail = next((t for t in tokens if t[0] < end < t[1]), None)
    if head is None or tail is None or head is tail:
        return None
    return f"{head[2]}|{tail[2]}"
