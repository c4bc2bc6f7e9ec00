"""`wait_for_port` returns once something listens and names what it waited for when nothing does."""

from __future__ import annotations

import socket

import pytest
from sync_testbed import free_port, wait_for_port


def test_returns_once_a_server_listens() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        wait_for_port(server.getsockname()[1], "a listener", timeout_s=5)


def test_times_out_naming_what_it_waited_for() -> None:
    with pytest.raises(TimeoutError, match="the local Stripe API did not listen on port"):
        wait_for_port(free_port(), "the local Stripe API", timeout_s=0.2)
