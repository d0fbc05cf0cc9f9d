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
from .test_healthy import PROBE_TIMEOUT, assert_quiet_diagnose, assert_reachable, loud_findings


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
    assert_reachable(sc)
    if sc.info.get("large"):  # full-size pages really cross the narrower hop
        for ip, _ in sc.info["reach"]:
            assert _large_get_completes(sc, ip), ip
    assert_quiet_diagnose(lab, sc)
    for port in sc.info.get("listen", ()):  # and the host as a server: "can I serve PORT here?"
        run = lab.run_whynet(sc.client, "diagnose", "--listen", port, "--format", "json",
                             "--timeout", str(PROBE_TIMEOUT), env=sc.env, user=sc.user)
        assert run.report is not None, f"no JSON report (exit {run.exit_code}): {run.stderr}"
        loud = loud_findings(run.report)
        assert not loud, (port, loud)
        assert run.exit_code == 0, run.stderr
