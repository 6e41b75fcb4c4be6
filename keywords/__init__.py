"""Purchase-intent matching: keyword lists → an explainable ``MatchResult`` per message.

Public entry points: ``load_matcher(settings, base_dir)``, ``KeywordListError``,
``validate_list_text(text, name)``, and ``keywords.reload.MatcherHolder`` for hot reload.
"""

from keywords.lists import KeywordListError, ListProblem, validate_list_text
from keywords.loader import load_matcher
from keywords.matcher import KeywordMatcher

__all__ = ["KeywordListError", "KeywordMatcher", "ListProblem", "load_matcher", "validate_list_text"]
