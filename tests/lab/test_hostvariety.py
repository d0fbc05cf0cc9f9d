"""Lab proofs for tests/lab/hostvariety.py: healthy hosts of shapes the rest of the corpus
lacks (jumbo frames, a VLAN sub-interface, macvlan and ipvlan, SLAAC with privacy addresses, a
Tailscale-like overlay, Debian's resolver files, idle virtual bridges beside a VPN, a
NetworkManager laptop with two NICs).

Each test first proves with plain sockets that every service of the set-up answers from the
client (so a finding would be a false alarm, not a lab fault), then runs whynet on the
set-up's targets and asserts exit 0, no finding at warning or above, and no failing layer.
"""

from __future__ import annotations

from . import hostvariety as V
from .netlab import Lab
from .registry import runs
from .scenarios import Scenario
from .test_healthy import PROBE_TIMEOUT


def _large_get_completes(sc: Scenario, ip: str) -> bool:
    """A GET of the set-up's 12 KB page at the full MSS completes (PMTUD shrinks it)."""
    code = (
        "import socket\n"
        f"s = socket.create_connection(({ip!r}, 80), timeout=3)\n"
        "s.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
        "got = b''\n"
        "while True:\n"
        "    chunk = s.recv(65536)\n"
        "    if not chunk: break\n"
        "    got += chunk\n"
        "print(len(got))\n"
    )
    out = sc.client.python(code)
    return int(out.stdout.strip()) > len(V.PAGE)


@runs(*sorted(V.HEALTHY))
def test_host_shape_is_quiet(lab: Lab, sc: Scenario) -> None:
    name = sc.name
    for ip, port in sc.info["reach"]:
        got = sc.client.connect(ip, port)
        assert got.outcome == "open", (name, ip, port, got)
    for host, addresses in sc.info.get("names", {}).items():  # the system resolver's answers
        assert sc.client.getaddrinfo(host) == addresses, host
    if sc.info.get("large"):  # full-size pages really cross the narrower hop
        for ip, _ in sc.info["reach"]:
            assert _large_get_completes(sc, ip), ip
    run = lab.run_whynet(sc.client, *sc.diagnose_args("--timeout", str(PROBE_TIMEOUT)),
                         env=sc.env, user=sc.user)
    assert run.report is not None, f"no JSON report (exit {run.exit_code}): {run.stderr}"
    loud = [(f["rule"], f["severity"], f["explanation"]) for f in run.report["findings"]
            if f["severity"] != "info"]
    assert not loud, loud
    assert run.exit_code == 0, run.stderr
    layers = run.report["layers"]
    targets = {row["target"] for row in layers}
    assert targets == {sc.target, *sc.args}, targets
    failed = [row for row in layers if row["status"] == "fail"]
    assert not failed, failed
    for port in sc.info.get("listen", ()):  # and the host as a server: "can I serve PORT here?"
        run = lab.run_whynet(sc.client, "diagnose", "--listen", port, "--format", "json",
                             "--timeout", str(PROBE_TIMEOUT), env=sc.env, user=sc.user)
        assert run.report is not None, f"no JSON report (exit {run.exit_code}): {run.stderr}"
        loud = [(f["rule"], f["severity"], f["explanation"]) for f in run.report["findings"]
                if f["severity"] != "info"]
        assert not loud, (port, loud)
        assert run.exit_code == 0, run.stderr
