"""Local Redis as `scripts/run` manages it: reuse, recovery, and a clear word on conflicts."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from launcher.services import RedisServer, StartupError, free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    local = RedisServer(tmp_path / "redis", free_port())
    yield local
    local.stop(save=False)


def test_a_running_server_of_ours_is_reused(server: RedisServer) -> None:
    server.start()
    pid = (server.data_dir / "redis.pid").read_text()
    server.start()
    assert (server.data_dir / "redis.pid").read_text() == pid


def test_a_server_whose_folder_was_deleted_is_restarted(server: RedisServer) -> None:
    server.start()
    shutil.rmtree(server.data_dir)
    server.start()
    with redis.Redis.from_url(server.url) as client:
        client.set("key", "value")  # writes work again: the data folder exists
        client.bgsave()
    assert (server.data_dir / "redis.pid").exists()


def test_another_redis_on_the_port_is_named_not_killed(server: RedisServer, tmp_path: Path) -> None:
    server.start()
    intruder = RedisServer(tmp_path / "elsewhere", server.port)
    with pytest.raises(StartupError, match=f"port {server.port} is taken by another Redis"):
        intruder.start()
    assert server.is_running()
