import socket

import pytest


def test_tests_cannot_reach_the_network():
    with pytest.raises(OSError, match="must not use the network"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
