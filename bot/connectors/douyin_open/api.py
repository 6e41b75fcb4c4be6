"""Authorised Douyin Open API calls: access-token header, ``open_id`` query, envelope checks.

An "access token expired" answer refreshes the token and repeats the call once (that is
the documented fix, not a retry loop); a second refusal is ``AuthExpired``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.connectors.douyin_open.codec import CommentPage, api_data, load_json, parse_comment_list
from bot.connectors.douyin_open.http import HttpClient
from bot.connectors.douyin_open.tokens import TokenManager
from bot.connectors.errors import AuthExpired


class DouyinOpenApi:
    def __init__(self, http: HttpClient, tokens: TokenManager) -> None:
        self.http = http
        self.tokens = tokens

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str],
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        for attempt in (0, 1):
            token = await self.tokens.access_token()
            query = {"open_id": self.tokens.open_id, **params}
            body = await self.http.request(
                method, path, params=query, json=json, headers={"access-token": token, **(headers or {})}
            )
            try:
                api_data(body, context=path)
            except AuthExpired:
                if attempt == 0:
                    await self.tokens.invalidate()
                    continue
                raise
            return body
        raise AuthExpired(f"{path}: access token refused after refresh")  # pragma: no cover

    async def comment_list(self, item_id: str, cursor: int, count: int) -> CommentPage:
        # HttpClient percent-encodes each query value on its own, as the docs require for item_id.
        body = await self._call(
            "GET",
            "/item/comment/list/",
            params={"item_id": item_id, "cursor": str(cursor), "count": str(count), "sort_type": "time_asc"},
        )
        return parse_comment_list(body)

    async def comment_reply(self, item_id: str, comment_id: str | None, text: str, idempotency_key: str) -> str:
        payload: dict[str, str] = {"item_id": item_id, "content": text}
        if comment_id:
            payload["comment_id"] = comment_id
        body = await self._call(
            "POST", "/item/comment/reply/", params={}, json=payload, headers={"Idempotency-Key": idempotency_key}
        )
        data = api_data(body)
        value = data.get("comment_id")
        return str(value) if isinstance(value, str | int) else ""

    async def im_send(self, payload: dict[str, Any], idempotency_key: str) -> str:
        body = await self._call(
            "POST", "/im/send/msg/", params={}, json=payload, headers={"Idempotency-Key": idempotency_key}
        )
        document = load_json(body)
        msg_id = document.get("msg_id") if isinstance(document, dict) else None
        return msg_id if isinstance(msg_id, str) else ""
