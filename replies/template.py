"""The tiny placeholder language of reply templates, parsed once at load time.

A template is plain text with ``{name}`` placeholders; ``{{`` and ``}}`` are literal braces.
Nothing else is allowed inside braces: attribute access (``{a.b}``), indexing (``{a[0]}``),
conversions (``{a!r}``), format specs (``{a:>9}``), unknown names or a stray brace are
``TemplateSyntaxError``s raised while loading, never at send time. Rendering only ever
concatenates literal text with already-cleaned values, so a value can never be evaluated or
re-parsed as template syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Every variable a template may use. The renderer fills them from ReplyContext / ProductFacts.
KNOWN_VARIABLES: frozenset[str] = frozenset(
    {
        "nickname",  # the viewer's cleaned, length-capped nickname
        "names",  # several nicknames joined (batched greetings): "A、B、C"
        "product",  # product name from the catalogue
        "link_number",  # the product's link number in the cart ("3")
        "price",  # formatted price with currency ("¥89", "$5.99")
        "stock",  # units in stock (only when > 0)
        "next_live",  # when the next broadcast starts, pre-formatted ("明天 20:00")
        "title",  # title of the broadcast (reminders)
        "minutes",  # minutes until the broadcast starts (reminders)
        "store",  # the store's name
    }
)

_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


class TemplateSyntaxError(ValueError):
    """A template cannot be used. ``column`` is 0-based in the template text."""

    def __init__(self, message: str, column: int, fragment: str) -> None:
        self.column = column
        self.fragment = fragment
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Var:
    name: str


Segment = str | Var


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal text and variables, in order."""

    source: str
    segments: tuple[Segment, ...]

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(s.name for s in self.segments if isinstance(s, Var))

    def fill(self, values: dict[str, str]) -> str:
        """Concatenate literal text and values; every variable must be present in ``values``."""
        return "".join(s if isinstance(s, str) else values[s.name] for s in self.segments)


def _explain(inner: str) -> str:
    if "." in inner:
        return "attribute access is not allowed"
    if "[" in inner or "]" in inner:
        return "index access is not allowed"
    if "!" in inner:
        return "conversions (!r, !s) are not allowed"
    if ":" in inner:
        return "format specs are not allowed"
    if not inner.strip():
        return "empty placeholder"
    return "not a valid placeholder name"


def parse_template(text: str, allowed: frozenset[str] = KNOWN_VARIABLES) -> Template:
    """Parse ``text``; raise ``TemplateSyntaxError`` naming the offending placeholder."""
    segments: list[Segment] = []
    literal: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            if i + 1 < n and text[i + 1] == "{":
                literal.append("{")
                i += 2
                continue
            end = text.find("}", i + 1)
            nested = text.find("{", i + 1)
            if end < 0 or (0 <= nested < end):
                raise TemplateSyntaxError("unclosed '{' (write '{{' for a literal brace)", i, text[i : i + 12])
            inner = text[i + 1 : end]
            fragment = text[i : end + 1]
            if not _NAME.match(inner):
                raise TemplateSyntaxError(f"{fragment}: {_explain(inner)}", i, fragment)
            if inner not in allowed:
                known = ", ".join(sorted(allowed))
                raise TemplateSyntaxError(f"{fragment}: unknown variable; known: {known}", i, fragment)
            if literal:
                segments.append("".join(literal))
                literal = []
            segments.append(Var(inner))
            i = end + 1
            continue
        if ch == "}":
            if i + 1 < n and text[i + 1] == "}":
                literal.append("}")
                i += 2
                continue
            raise TemplateSyntaxError("stray '}' (write '}}' for a literal brace)", i, text[max(0, i - 10) : i + 1])
        literal.append(ch)
        i += 1
    if literal:
        segments.append("".join(literal))
    return Template(text, tuple(segments))
