"""A Redis primary, a replica and three sentinels on loopback ports (Debian's `redis-server`
and `redis-sentinel`), with failover timings short enough for a test: a primary that stops
answering is replaced within about two seconds."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

MASTER_NAME = "mymaster"
# A primary silent this long is down for a sentinel; a majority of 2 agrees it is.
DOWN_AFTER_MS = 400
FAILOVER_TIMEOUT_MS = 2000
QUORUM = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError):
            if predicate():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(0.05)


class SentinelSet:
    """The processes of one Redis set; `kill_primary` SIGKILLs the current primary."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data_ports = [free_port(), free_port()]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def sentinels(self) -> str:
        """REDIS_SENTINELS for this set."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def _start(self, port: int, argv: list[str]) -> None:
        log = (self.folder / f"{port}.log").open("ab")
        self.processes[port] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def _start_data_node(self, port: int, replica_of: int | None) -> None:
        folder = self.folder / str(port)
        folder.mkdir(exist_ok=True)
        argv = [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "no",
            # No RDB file on disk between primary and replica: a full sync is quicker.
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
        ]
        if replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._start(port, argv)

    def start(self) -> SentinelSet:
        """Start the primary and its replica, wait for the sync, then the sentinels."""
        primary, replica = self.data_ports
        self._start_data_node(primary, None)
        self._start_data_node(replica, primary)
        _wait_until(
            lambda: redis.Redis(port=replica).info("replication")["master_link_status"] == "up",
            10,
            "the replica syncs",
        )
        for port in self.sentinel_ports:
            conf = self.folder / f"sentinel-{port}.conf"
            # Sentinel rewrites its file (the set it discovered), so each has its own.
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.folder}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} {QUORUM}\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            sentinel = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
            self._start(port, [sentinel, str(conf)])
        for port in self.sentinel_ports:
            _wait_until(
                lambda port=port: (
                    self._sentinel_view(port)[0] == primary
                    and self._sentinel_view(port)[1] >= 1
                    and self._sentinel_view(port)[2] == len(self.sentinel_ports) - 1
                ),
                15,
                f"sentinel {port} sees the primary, its replica and the other sentinels",
            )
        return self

    def _sentinel_view(self, port: int) -> tuple[int, int, int]:
        """(primary port, replicas, other sentinels) as sentinel `port` sees them."""
        state = redis.Redis(port=port, decode_responses=True).sentinel_master(MASTER_NAME)
        return int(state["port"]), int(state["num-slaves"]), int(state["num-other-sentinels"])

    def primary_port(self) -> int:
        """The primary's port, as the first sentinel that answers names it."""
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError):
                return self._sentinel_view(port)[0]
        raise RuntimeError("no sentinel answers")

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, decode_responses=True, socket_timeout=2)

    def kill_primary(self) -> int:
        """SIGKILL the current primary (as a crashed machine); returns its port."""
        port = self.primary_port()
        process = self.processes.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait()
        return port

    def wait_for_new_primary(self, old: int, timeout: float = 15.0) -> int:
        """Wait until every sentinel names a primary other than `old`; returns its port."""
        _wait_until(
            lambda: all(self._sentinel_view(p)[0] != old for p in self.sentinel_ports),
            timeout,
            "the sentinels promote the replica",
        )
        port = self.primary_port()
        _wait_until(
            lambda: self.client(port).info("replication")["role"] == "master",
            timeout,
            "the promoted replica acts as primary",
        )
        return port

    def stop_sentinels(self, count: int) -> None:
        """Stop `count` of the sentinels (SIGKILL)."""
        for port in self.sentinel_ports[:count]:
            process = self.processes.pop(port, None)
            if process is not None:
                process.kill()
                process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
        for process in self.processes.values():
            process.wait()
        self.processes.clear()


@contextlib.contextmanager
def sentinel_set(folder: Path) -> Iterator[SentinelSet]:
    """A started `SentinelSet` under `folder`, stopped at the end."""
    running = SentinelSet(folder)
    try:
        yield running.start()
    finally:
        running.stop()
