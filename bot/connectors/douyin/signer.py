"""The push WebSocket URL and its signature (protocols.md §2.2).

The real signature is webmssdk's ``frontierSign(X-MS-STUB)``, an obfuscated algorithm that
changes often; leadbot does not ship it. ``Signer`` is the seam: the default ``StubSigner``
computes the documented X-MS-STUB (MD5 of a fixed comma-joined parameter string) and returns
a placeholder signature — enough for the simulator, which accepts any. A deployment that
talks to the real platform plugs in its own signer (e.g. one calling a signing service).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote, urlencode

SDK_VERSION = "1.0.15"
VERSION_CODE = "180800"
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)


class Signer(Protocol):
    async def sign(self, params: Mapping[str, str]) -> str:
        """The ``signature`` query value for a push URL with these query parameters."""
        ...


def ms_stub(params: Mapping[str, str]) -> str:
    """X-MS-STUB: MD5 hex of the documented parameter string, in exactly this order."""
    text = (
        f"live_id=1,aid=6383,version_code={VERSION_CODE},"
        f"webcast_sdk_version={params.get('webcast_sdk_version', SDK_VERSION)},"
        f"room_id={params['room_id']},sub_room_id=,sub_channel_id=,did_rule=3,"
        f"user_unique_id={params.get('user_unique_id', '')},device_platform=web,device_type=,ac=,identity=audience"
    )
    return hashlib.md5(text.encode("utf-8")).hexdigest()


class StubSigner:
    """Computes X-MS-STUB; returns a 16-char placeholder derived from it (not a real signature)."""

    last_stub: str = ""

    async def sign(self, params: Mapping[str, str]) -> str:
        self.last_stub = ms_stub(params)
        return "unsigned" + self.last_stub[:8]


def push_params(*, room_id: str, user_unique_id: str, cursor: str, internal_ext: str, user_agent: str) -> dict[str, str]:
    """Query parameters of the push URL, in the order jwwsjlm's ``QueryString()`` uses."""
    browser_version = user_agent.split("Mozilla/", 1)[-1]
    return {
        "app_name": "douyin_web",
        "version_code": VERSION_CODE,
        "webcast_sdk_version": SDK_VERSION,
        "update_version_code": SDK_VERSION,
        "compress": "gzip",
        "device_platform": "web",
        "cookie_enabled": "true",
        "screen_width": "1920",
        "screen_height": "1080",
        "browser_language": "zh-CN",
        "browser_platform": "Win32",
        "browser_name": "Mozilla",
        "browser_version": browser_version,
        "browser_online": "true",
        "tz_name": "Asia/Shanghai",
        "cursor": cursor,
        "internal_ext": internal_ext,
        "host": "https://live.douyin.com",
        "aid": "6383",
        "live_id": "1",
        "did_rule": "3",
        "endpoint": "live_pc",
        "support_wrds": "1",
        "user_unique_id": user_unique_id,
        "im_path": "/webcast/im/fetch/",
        "identity": "audience",
        "need_persist_msg_count": "15",
        "insert_task_id": "",
        "live_reason": "",
        "room_id": room_id,
        "heartbeatDuration": "0",
    }


async def push_url(base: str, params: Mapping[str, str], signer: Signer) -> str:
    """``{base}/webcast/im/push/v2/?<params>&signature=<sig>`` (values percent-encoded)."""
    signature = await signer.sign(params)
    query = urlencode({**params, "signature": signature}, quote_via=quote, safe="/:")
    return f"{base.rstrip('/')}/webcast/im/push/v2/?{query}"
