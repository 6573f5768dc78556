"""The real daemon's listener: health, metrics after a cycle, served feeds, API off without a token."""

from __future__ import annotations

import re
import signal

import httpx

from tests.fakes import write_feeds_yaml


def test_daemon_serves_health_metrics_and_feeds(tmp_path, feed_server, acr_rss, spawn_daemon):
    feed_server.set_feed("/feed/", acr_rss)
    config = write_feeds_yaml(tmp_path, {"acr": feed_server.url("/feed/")}, poll_interval="1h", output=True,
                              listen={"enabled": True, "port": 0})
    daemon = spawn_daemon(config, "run", verbose=True)
    line = daemon.wait_for_line("listening")
    assert line, daemon.output
    url = re.search(r"url=(\S+)", line).group(1)
    assert daemon.wait_for_line("cycle done"), daemon.output

    with httpx.Client(base_url=url, timeout=10) as http:
        health = http.get("/healthz")
        assert health.status_code == 200, health.text
        metrics = http.get("/metrics").text
        assert re.search(r'syndicate_feed_polls_total\{feed="acr",status="fetched"\} 1\.0', metrics)
        assert re.search(r'syndicate_articles_found_total\{feed="acr"\} 5\.0', metrics)
        assert "syndicate_last_cycle_timestamp_seconds" in metrics
        rss = http.get("/feed.xml")
        assert rss.status_code == 200 and b"Stalinist Realism and Open Communism" in rss.content
        assert http.get("/feed.xml", headers={"If-None-Match": rss.headers["etag"]}).status_code == 304
        api = http.get("/api/articles")
        assert api.status_code == 404 and "SYNDICATE_API_TOKEN" in api.json()["error"]

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
