"""Build a matcher from settings: default lists, the merchant's extra lists, the catalogue."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from keywords.catalogue import Catalogue, load_catalogue
from keywords.lists import KeywordList, load_list_file
from keywords.matcher import KeywordMatcher
from keywords.settings import MatchingSettings

DEFAULT_LIST_NAMES = ("zh.toml", "en.toml")


def default_list_paths() -> list[Path]:
    base = Path(str(resources.files("keywords") / "lists"))
    return [base / name for name in DEFAULT_LIST_NAMES]


def resolve(base_dir: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def list_paths(settings: MatchingSettings, base_dir: Path) -> list[Path]:
    paths = default_list_paths() if settings.use_default_lists else []
    return paths + [resolve(base_dir, p) for p in settings.extra_lists]


def catalogue_path(settings: MatchingSettings, base_dir: Path) -> Path | None:
    return resolve(base_dir, settings.products) if settings.products else None


def watched_paths(settings: MatchingSettings, base_dir: Path) -> list[Path]:
    paths = list_paths(settings, base_dir)
    cat = catalogue_path(settings, base_dir)
    return paths + ([cat] if cat is not None else [])


def with_candidates(paths: Sequence[Path], candidates: Sequence[Path]) -> list[Path]:
    """The list files in force if ``candidates`` were published.

    A candidate replaces the configured list with the same path or, failing that, the same file
    name (an edited copy of ``zh.toml`` kept elsewhere); any other candidate is layered on top,
    like a merchant's extra list. Order is kept: what comes later wins.
    """
    result = list(paths)
    for candidate in candidates:
        same = [i for i, p in enumerate(result) if p.resolve() == candidate.resolve()]
        same = same or [i for i, p in enumerate(result) if p.name == candidate.name]
        if same:
            result[same[-1]] = candidate
        else:
            result.append(candidate)
    return result


def load_matcher(settings: MatchingSettings, base_dir: Path, *, candidates: Sequence[Path] = ()) -> KeywordMatcher:
    """Load and compile every list. Raises ``KeywordListError`` (file, line, reason) on a bad file.

    A missing catalogue file is not an error (no product resolution); a broken one is.
    ``candidates``: list files to try in place of (or over) the configured ones, see ``with_candidates``.
    """
    paths = with_candidates(list_paths(settings, base_dir), candidates)
    lists: list[KeywordList] = [load_list_file(path) for path in paths]
    catalogue: Catalogue | None = None
    catalogue_text = ""
    cat = catalogue_path(settings, base_dir)
    if cat is not None and cat.exists():
        catalogue = load_catalogue(cat)
        catalogue_text = cat.read_text(encoding="utf-8")
    return KeywordMatcher(lists, catalogue, min_score=settings.min_score, catalogue_text=catalogue_text)
