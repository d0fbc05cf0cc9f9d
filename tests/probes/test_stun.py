"""The STUN probe (N3): the RFC 5769 test vector, server parsing, and a run on loopback."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.probes.stun import StunError, parse_binding_response, parse_server, probe_stun

# RFC 5769 section 2.2, "Sample IPv4 Response": XOR-MAPPED-ADDRESS 192.0.2.1 port 32853, with
# SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT around it.
RFC5769_TRANSACTION = bytes.fromhex("b7e7a701bc34d686fa87dfae")
RFC5769_RESPONSE = bytes.fromhex(
    "0101003c" "2112a442" "b7e7a701bc34d686fa87dfae"
    "8022000b" "7465737420766563746f7220"
    "00200008" "0001a147e112a643"
    "00080014" "2b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004" "c07d4c96")

STUN_SERVER_PY = Path(__file__).resolve().parents[1] / "lab" / "stun_server.py"


def test_rfc5769_ipv4_response() -> None:
    assert parse_binding_response(RFC5769_RESPONSE, RFC5769_TRANSACTION) == ("192.0.2.1", 32853)


def test_another_transactions_answer_is_ignored() -> None:
    assert parse_binding_response(RFC5769_RESPONSE, bytes(12)) is None
    assert parse_binding_response(RFC5769_RESPONSE[:19], RFC5769_TRANSACTION) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("stun.example.org", ("stun.example.org", 3478)),
    ("stun.example.org:19302", ("stun.example.org", 19302)),
    ("192.0.2.1:3478", ("192.0.2.1", 3478)),
])
def test_parse_server(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize("text", ["", ":3478", "host:0", "host:port", "host:70000"])
def test_bad_server(text: str) -> None:
    with pytest.raises(StunError):
        parse_server(text)


@pytest.fixture
def loopback_stun() -> Iterator[int]:
    """The lab's STUN answer function, served on 127.0.0.1 from a thread."""
    spec = importlib.util.spec_from_file_location("stun_server", STUN_SERVER_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, (ip, port) = sock.recvfrom(2048)
            except TimeoutError:
                continue
            sock.sendto(module.binding_success(data[8:20], ip, port), (ip, port))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(2)
    sock.close()


def test_probe_on_loopback(loopback_stun: int) -> None:
    fact = asyncio.run(probe_stun(f"127.0.0.1:{loopback_stun}", 2.0))
    assert fact["outcome"] == "mapped"
    assert fact["public_ip"] == "127.0.0.1" == fact["local_ip"]
    assert fact["public_port"] == fact["local_port"] and fact["translated"] is False
    assert (fact["hops"], fact["cgnat"], fact["double_nat"]) == ([], False, False)
    assert fact["elapsed_ms"] < 1500  # done as soon as the answer and every hop are in


def test_no_server_times_out_within_the_timeout() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    fact = asyncio.run(probe_stun(f"127.0.0.1:{port}", 0.5))
    assert fact["outcome"] == "timeout" and "no STUN answer" in fact["error"]
    assert fact["elapsed_ms"] < 1500
