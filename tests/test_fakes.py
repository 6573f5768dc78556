"""The fakes keep to what they stand in for: the Target protocol, time.sleep, feeds.yaml."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest

from syndicate.config import load_config
from syndicate.errors import TransientError
from syndicate.models import Attempted, PostDraft, Posted
from syndicate.targets.base import Target
from tests.fakes import FakeClock, Landed, ScriptedTarget, make_config, mastodon, write_feeds_yaml


def test_the_scripted_target_has_every_member_of_the_target_protocol_with_its_parameters():
    wanted = {name: member for name, member in vars(Target).items()
              if inspect.isfunction(member) and not name.startswith("_")}
    assert wanted, "the protocol lists no methods?"
    for name, member in wanted.items():
        fake = getattr(ScriptedTarget, name, None)
        assert fake is not None, f"ScriptedTarget has no {name}()"
        assert list(inspect.signature(fake).parameters) == list(inspect.signature(member).parameters), name
    assert isinstance(ScriptedTarget(name="x").name, str)


def test_the_script_is_followed_then_every_post_succeeds():
    posted = Posted("remote-1", "https://t.example/remote-1")
    target = ScriptedTarget([TransientError("HTTP 503"), Landed(TransientError("dropped")), posted])
    draft = PostDraft(target="t", article_id="a", text="hello", length=5)
    with pytest.raises(TransientError, match="503"):
        target.deliver(draft, "k1")
    assert target.posts == {}
    with pytest.raises(TransientError, match="dropped"):
        target.deliver(draft, "k1")
    assert target.posts == {"k1": "hello"}  # landed: the lookup finds it
    assert target.lookup(Attempted("k1", ("hello",), datetime(2025, 1, 1, tzinfo=UTC))) == Posted("k1", "https://t.example/k1")
    assert target.deliver(draft, "k2") == posted
    assert target.deliver(draft, "k3") == Posted("k3", "https://t.example/k3")
    assert target.calls == ["deliver", "deliver", "lookup", "deliver", "deliver"]
    assert target.lookups == ["k1"] and [key for key, _ in target.drafts] == ["k1", "k1", "k2", "k3"]


def test_the_clock_moves_only_when_told_and_refuses_a_negative_sleep_as_time_sleep_does():
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    start = clock()
    clock.sleep(2.5)
    clock.advance(10)
    assert clock() == clock.now == start + 12.5 and clock.sleeps == [2.5]
    with pytest.raises(ValueError):
        clock.sleep(-1)
    clock.set(datetime(2025, 1, 2, tzinfo=UTC))
    assert clock() == start + 86400


def test_the_written_feeds_yaml_loads_as_the_config_make_config_builds(tmp_path):
    keys = dict(targets={"masto": mastodon("https://m.example", timeout=5)}, poll_interval="1h",
                output={"title": "Mirror"}, delivery={"attempts": 2})
    feeds = {"acr": {"url": "https://acr.example/feed/", "backfill": 3}, "essf": "https://essf.example/rss"}
    path = write_feeds_yaml(tmp_path, feeds, **keys)
    loaded = load_config(path, environ={})
    built = make_config(tmp_path, feeds, file=str(path), **keys)
    assert loaded == built
    assert [f.name for f in built.feeds] == ["acr", "essf"] and built.feeds[0].backfill == 3
    assert built.state == tmp_path / "state.db" and built.output.dir == tmp_path / "public"
    assert built.output.title == "Mirror" and built.delivery.attempts == 2 and built.poll_interval == 3600
    assert make_config(tmp_path, feeds).output.enabled is False  # off unless asked for
