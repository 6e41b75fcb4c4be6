"""The YouTube simulator is faithful enough for Google's own client library to use it."""

from __future__ import annotations

import asyncio

import pytest

from bot.connectors.simkit import start_app
from bot.connectors.youtube.simulator import YouTubeSim, create_simulator

pytestmark = pytest.mark.optional


async def test_google_api_python_client_reads_and_posts_live_chat_on_the_simulator():
    discovery = pytest.importorskip("googleapiclient.discovery", reason="google-api-python-client not installed")
    sim = YouTubeSim()
    app, state = create_simulator([], rooms=["chat-1"], rate=10.0, sim=sim)
    runner, port = await start_app(app)
    sim.chat_message("chat-1", "UCfan", "fan", "how much is the red one?")
    try:
        def use_library() -> tuple[dict, dict]:
            youtube = discovery.build(
                "youtube", "v3", developerKey=sim.api_key, static_discovery=True,
                client_options={"api_endpoint": f"http://127.0.0.1:{port}"},
            )
            listed = youtube.liveChatMessages().list(liveChatId="chat-1", part="id,snippet,authorDetails").execute()
            token = listed["nextPageToken"]
            empty = youtube.liveChatMessages().list(liveChatId="chat-1", part="id,snippet", pageToken=token).execute()
            return listed, empty

        listed, empty = await asyncio.to_thread(use_library)
        assert listed["items"][0]["snippet"]["displayMessage"] == "how much is the red one?"
        assert listed["pollingIntervalMillis"] == sim.polling_interval_ms and empty["items"] == []
        assert sim.quota_used == 10
    finally:
        await runner.cleanup()
