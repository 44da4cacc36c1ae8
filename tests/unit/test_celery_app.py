"""The Celery app's configuration: what it guarantees comes from settings, not defaults."""

from __future__ import annotations

import pytest

from api.domain.core.settings import Settings
from workers.celery_app import broker_url, create_app
from workers.task_policy import retry_backoff_max


def test_unix_socket_redis_urls_become_kombu_socket_urls() -> None:
    assert (
        broker_url("unix:///var/lib/andon/redis/redis.sock")
        == "redis+socket:///var/lib/andon/redis/redis.sock"
    )
    assert broker_url("unix:///tmp/r.sock?db=2") == "redis+socket:///tmp/r.sock?db=2"
    assert broker_url("redis://cache:6379/0") == "redis://cache:6379/0"
    with pytest.raises(ValueError):
        broker_url("http://cache:6379")


def test_the_app_is_json_only_late_acking_prefetch_one_and_prefix_isolated() -> None:
    settings = Settings(
        redis_url="redis://127.0.0.1:6379/0", redis_prefix="site-a", worker_visibility_timeout=120
    )
    app = create_app(settings)
    conf = app.conf
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["global_keyprefix"] == "site-a:celery:"
    assert conf.broker_transport_options["visibility_timeout"] == 120
    assert {q.name for q in conf.task_queues} == {"outbox", "push", "index", "mentions", "audit"}
    for name in ("push.send", "mentions.notify_messages", "index.messages", "audit.append", "outbox.drain"):
        assert name in app.tasks
        assert app.amqp.router.route({}, name)["queue"].name == name.split(".")[0]
    app.close()


def test_retry_countdowns_stay_under_half_the_visibility_timeout() -> None:
    assert retry_backoff_max(Settings(worker_visibility_timeout=900)) == 300
    assert retry_backoff_max(Settings(worker_visibility_timeout=60)) == 30


def test_each_app_registers_its_own_tasks_with_its_own_settings() -> None:
    short = create_app(Settings(redis_url="redis://127.0.0.1:6379/0", worker_visibility_timeout=60))
    long = create_app(Settings(redis_url="redis://127.0.0.1:6379/0", worker_visibility_timeout=900))
    assert short.tasks["index.messages"] is not long.tasks["index.messages"]
    assert short.tasks["index.messages"].retry_backoff_max == 30
    assert long.tasks["index.messages"].retry_backoff_max == 300
    short.close()
    long.close()
