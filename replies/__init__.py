"""Reply templates as data and their safe rendering.

Public surface: ``replies.render`` (``ReplyBook``, ``ReplyContext``, ``ProductFacts``,
``Rendered``, ``NoReply``, ``choose_variant``, ``RecentTexts``, ``format_price``,
``format_live_time``), ``replies.template`` (the placeholder parser) and ``replies.clean``
(``clean_value`` for hostile nicknames and product names).
"""
