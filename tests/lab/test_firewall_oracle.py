"""The kernel as the oracle of the firewall evaluator (engine/firewall/evaluate.py).

For random rulesets from a seeded generator (tests/lab/firewall_gen.py: nftables tables at
several priorities with jumps, gotos, sets, every reject type and policy, plus iptables-nft
tables), each loaded into the client (output), router (forward) or server (input) namespace:
the collectors read the ruleset back exactly as whynet does live (``nft -j list ruleset``,
``iptables-nft-save``), the evaluator predicts what happens to each random packet, and the
real packet is sent from the client to the server. What the client sees is the kernel's
verdict: the connection opens or the datagram is echoed (accept), nothing comes back (drop:
a timeout, or EPERM for a local output drop), or an error comes at once (reject: the errno
says which ICMP type or a TCP reset). Every disagreement fails the test with the ruleset and the
packet; the evaluator's ``unknown`` answers must stay under 5% of the cases.

CI runs ``WHYNET_ORACLE_CASES`` packets (default 200, about a minute); set it to 1000 or more
for the full run, and ``WHYNET_ORACLE_SEED`` to start from another seed.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from engine.collectors import iptables, nftables
from engine.firewall.evaluate import Packet, Ruleset, Verdict

from .firewall_gen import CLIENT, PLACES, SERVER, SERVER_PORTS, Case, Generator, Probe
from .netlab import Lab, Namespace

CASES = int(os.environ.get("WHYNET_ORACLE_CASES", "200"))
SEED = int(os.environ.get("WHYNET_ORACLE_SEED", "1"))
PROBES_PER_RULESET = 5
IP_RECVERR, IPV6_RECVERR = 11, 25  # linux/in.h, linux/in6.h (not exported by Python)
WAIT = 0.6  # seconds: the lab answers in microseconds, so silence this long is a drop

# What the client's socket reports for each reject type, by family (Linux icmp_err_convert,
# icmpv6_err_convert).
REJECT_ERRNO = {
    "tcp-reset": {4: "ECONNREFUSED", 6: "ECONNREFUSED"},
    "port-unreachable": {4: "ECONNREFUSED", 6: "ECONNREFUSED"},
    "host-unreachable": {4: "EHOSTUNREACH", 6: "EHOSTUNREACH"},
    "addr-unreachable": {4: "EHOSTUNREACH", 6: "EHOSTUNREACH"},
    "net-unreachable": {4: "ENETUNREACH", 6: "ENETUNREACH"},
    "no-route": {4: "ENETUNREACH", 6: "ENETUNREACH"},
    "admin-prohibited": {4: "EHOSTUNREACH", 6: "EACCES"},
    "host-prohibited": {4: "EHOSTUNREACH", 6: "EACCES"},
    "net-prohibited": {4: "ENETUNREACH", 6: "EACCES"},
    "prot-unreachable": {4: "ENOPROTOOPT", 6: "ENOPROTOOPT"},
}

SERVER_CODE = """
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET6, kind)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port))
        if kind == socket.SOCK_STREAM:
            s.listen(64)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
print("READY :: %s" % sys.argv[1], flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        try:
            if s.type == socket.SOCK_STREAM:
                conn, _ = s.accept()
                conn.close()
            else:
                data, peer = s.recvfrom(2048)
                s.sendto(data, peer)
        except OSError:
            pass
"""


@dataclass
class Topology:
    client: Namespace
    router: Namespace
    server: Namespace

    def at(self, place: str) -> Namespace:
        return {"client": self.client, "router": self.router, "server": self.server}[place]


def build(lab: Lab) -> Topology:
    client, router, server = lab.host("fwc"), lab.router("fwr"), lab.host("fws")
    lab.link(client, router, "10.77.1.2/24", "10.77.1.1/24")
    lab.link(router, server, "10.77.2.1/24", "10.77.2.2/24")
    client.add_address("eth0", "fd77:1::2/64")
    router.add_address("eth0", "fd77:1::1/64")
    router.add_address("eth1", "fd77:2::1/64")
    server.add_address("eth0", "fd77:2::2/64")
    for ns, gw4, gw6 in ((client, "10.77.1.1", "fd77:1::1"), (server, "10.77.2.1", "fd77:2::1")):
        ns.default_route(gw4)
        ns.add_route("default", via=gw6)
    for ns in (client, router, server):
        # ICMP errors are rate-limited per destination: a reject sent just after another one
        # would look like a drop. Not what the evaluator is about.
        ns.sysctl("net.ipv4.icmp_ratelimit", 0)
        ns.sysctl("net.ipv6.icmp.ratelimit", 0)
    server.spawn("ports", [lab.python, "-c", SERVER_CODE, *map(str, SERVER_PORTS)])
    # IPv6 forwarding works only once the link-local addresses have passed duplicate address
    # detection (about a second): wait until both families connect end to end.
    deadline = time.monotonic() + 10
    for family in (4, 6):
        probe = Probe(family, "tcp", SERVER_PORTS[0], 19_000 + family)
        while client.call(send, probe, timeout=10) != "open":
            assert time.monotonic() < deadline, f"IPv{family} path never came up"
            time.sleep(0.1)
            probe = Probe(family, "tcp", SERVER_PORTS[0], probe.sport + 10)
    return Topology(client, router, server)


# --- the kernel's answer -------------------------------------------------------------------------

def send(probe: Probe) -> str:
    """``open`` (accepted), ``timeout``/``EPERM`` (dropped) or the errno name of a reject.

    The socket asks for every ICMP error (IP_RECVERR): UDP reports "soft" ones (host
    unreachable) only then, and TCP over IPv6 treats an ICMPv6 error during connect as soft
    (kernel 6.18: the connect goes on retrying), so after a timeout the error queue says
    whether a reject came back, and which.
    """
    family = socket.AF_INET if probe.family == 4 else socket.AF_INET6
    kind = socket.SOCK_STREAM if probe.protocol == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    sock.settimeout(WAIT)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((CLIENT[probe.family], probe.sport))
        if probe.family == 4:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
        sock.connect((SERVER[probe.family], probe.dport))
        if kind == socket.SOCK_DGRAM:
            try:
                sock.send(b"oracle")
            except PermissionError:  # dropped or rejected on the way out: an error may follow
                try:
                    sock.recv(2048)
                except TimeoutError:
                    return queued_error(sock) or "EPERM"
            sock.recv(2048)
        return "open"
    except TimeoutError:
        return queued_error(sock) or "timeout"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    finally:
        sock.close()


def queued_error(sock: socket.socket) -> str | None:
    """The errno of an ICMP error waiting in the socket's error queue (struct
    sock_extended_err starts with ee_errno), or None."""
    try:
        _, ancdata, _, _ = sock.recvmsg(512, 512, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
    except OSError:
        return None
    for _, _, data in ancdata:
        if len(data) >= 4:
            return errno.errorcode.get(int.from_bytes(data[:4], "little"))
    return None


def expected(verdict: Verdict, family: int) -> str | None:
    """What the client should see, or None when the evaluator does not know."""
    if verdict.verdict == "accept":
        return "open"
    if verdict.verdict == "drop":
        return "timeout"
    if verdict.verdict == "reject":
        kind = str(verdict.reject_with or "").split("-", 1)[-1]
        if verdict.reject_with == "tcp-reset":
            kind = "tcp-reset"
        return REJECT_ERRNO.get(kind, {}).get(family, f"? {verdict.reject_with}")
    return None


# --- one case ------------------------------------------------------------------------------------

# Marks every packet for `nft monitor trace` before any generated chain sees it. It is part of
# the ruleset the evaluator reads too (a statement it passes over).
TRACE_TABLE = """table inet oracle_trace {
  chain pre {
    type filter hook prerouting priority -1000; policy accept;
    meta nftrace set 1
  }
  chain out {
    type filter hook output priority -1000; policy accept;
    meta nftrace set 1
  }
}
"""
_TRACE_LINE = re.compile(r"^trace id (\S+) (\S+) (\S+) (\S+) (.*)$")


def load(topology: Topology, case: Case) -> Ruleset:
    ns = topology.at(case.place)
    ns.exec("nft", "-f", "-", input=TRACE_TABLE + case.nft)
    for family, text in case.iptables.items():
        ns.exec("iptables-nft-restore" if family == 4 else "ip6tables-nft-restore", input=text)
    facts = nftables.parse_ruleset(ns.exec("nft", "-j", "list", "ruleset").stdout)
    for backend in ("iptables", "ip6tables"):
        command = f"{backend}-nft-save"
        facts += iptables.parse_save(ns.exec(command).stdout, command, backend, "nf_tables")
    return Ruleset(facts)


def packet(case: Case, probe: Probe) -> Packet:
    direction, iif, oif = PLACES[case.place]
    return Packet(direction, probe.family, probe.protocol, CLIENT[probe.family],
                  SERVER[probe.family], probe.sport, probe.dport, iif, oif)


class Trace:
    """``nft -a monitor trace`` in a namespace while the probes run: which rule or policy
    ended each packet, by its source port."""

    def __init__(self, ns: Namespace) -> None:
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns.netns, "nft", "-a", "monitor",
                                      "trace"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        time.sleep(0.2)  # the monitor subscribes before the first packet

    def finish(self, sports: set[int]) -> dict[int, tuple[str, str, str, int | None, str]]:
        """sport -> (family, table, chain, handle or None for a policy, verdict) of the event
        that ended the packet's walk (a drop; for others the last verdict seen)."""
        time.sleep(0.1)
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        packet_of: dict[str, int] = {}
        last: dict[str, tuple[str, str, str, int | None, str]] = {}
        for line in out.splitlines():
            m = _TRACE_LINE.match(line)
            if m is None:
                continue
            trace_id, family, table, chain, rest = m.groups()
            if rest.startswith("packet:"):
                sport = re.search(r"(?:tcp|udp) sport (\d+)", rest)
                if sport and int(sport.group(1)) in sports:
                    packet_of.setdefault(trace_id, int(sport.group(1)))
                continue
            if table == "oracle_trace" or trace_id not in packet_of:
                continue
            verdict = re.search(r"\(verdict (\w+)", rest)
            handle = re.search(r"# handle (\d+)", rest)
            if rest.startswith("policy "):
                last[trace_id] = (family, table, chain, None, rest.split()[1])
            elif verdict and verdict.group(1) in ("accept", "drop"):
                if last.get(trace_id, ("",) * 5)[4] != "drop":
                    last[trace_id] = (family, table, chain,
                                      int(handle.group(1)) if handle else None, verdict.group(1))
        return {packet_of[t]: event for t, event in last.items()}


def trace_agrees(verdict: Verdict, event: tuple[str, str, str, int | None, str]) -> bool:
    """Does the rule the kernel traced as dropping the packet equal the evaluator's?"""
    rule = verdict.deciding
    if rule is None:
        return False
    family, table, chain, handle, _ = event
    if (rule.family, rule.table, rule.chain) != (family, table, chain):
        return False
    if rule.backend == "nftables":
        return rule.handle == handle
    return (rule.position is None) == (handle is None)


@dataclass
class Tally:
    agree: int = 0
    unknown: int = 0
    disagreements: list[str] | None = None
    traced: int = 0  # drops and rejects whose deciding rule nft's trace named too

    @property
    def decided(self) -> int:
        return self.agree + len(self.disagreements or [])


def run_cases(topology: Topology, count: int, seed: int) -> Tally:
    tally = Tally(disagreements=[])
    assert tally.disagreements is not None
    done, case_seed, sport = 0, seed * 100_000, 20_000
    pool = ThreadPoolExecutor(max_workers=PROBES_PER_RULESET)
    try:
        while done < count:
            gen = Generator(case_seed, sport)
            case = gen.case(min(PROBES_PER_RULESET, count - done))
            sport = gen.sport
            case_seed += 1
            for ns in (topology.client, topology.router, topology.server):
                ns.exec("nft", "flush", "ruleset")
            ruleset = load(topology, case)
            verdicts = [ruleset.evaluate(packet(case, p)) for p in case.probes]
            trace = Trace(topology.at(case.place))
            seen = list(pool.map(lambda p: topology.client.call(send, p, timeout=10),
                                 case.probes))
            events = trace.finish({p.sport for p in case.probes})
            for probe, verdict, observed in zip(case.probes, verdicts, seen, strict=True):
                want = expected(verdict, probe.family)
                event = events.get(probe.sport)
                if want is None:
                    tally.unknown += 1
                elif want != observed and not (want == "timeout" and observed == "EPERM"):
                    tally.disagreements.append(
                        f"{packet(case, probe).describe()}: evaluator {verdict.describe()} "
                        f"(expects {want}), kernel: {observed}\n{case.text()}")
                elif verdict.verdict in ("drop", "reject") and event and event[4] == "drop":
                    tally.traced += 1
                    if trace_agrees(verdict, event):
                        tally.agree += 1
                    else:
                        tally.disagreements.append(
                            f"{packet(case, probe).describe()}: evaluator "
                            f"{verdict.describe()}, nft trace: {event}\n{case.text()}")
                else:
                    tally.agree += 1
            done += len(case.probes)
    finally:
        pool.shutdown()
    return tally


def test_evaluator_agrees_with_the_kernel(lab: Lab) -> None:
    topology = build(lab)
    started = time.monotonic()
    tally = run_cases(topology, CASES, SEED)
    total = tally.decided + tally.unknown
    print(f"\nfirewall oracle: {total} cases (seed {SEED}) in {time.monotonic() - started:.0f}s: "
          f"{tally.agree}/{tally.decided} decided cases agree with the kernel "
          f"({tally.traced} drops/rejects also by the rule nft's trace names), "
          f"{tally.unknown} unknown ({100 * tally.unknown / total:.1f}%)")
    dump = os.environ.get("WHYNET_ORACLE_DUMP")
    if dump:
        with open(dump, "w") as fh:
            fh.write("\n\n".join(tally.disagreements or []))
    assert tally.disagreements == [], (
        f"{len(tally.disagreements or [])} disagreement(s); first:\n"
        + "\n\n".join((tally.disagreements or [])[:3]))
    assert tally.unknown < 0.05 * total


@pytest.mark.parametrize("place", sorted(PLACES))
def test_a_healthy_path_is_accepted(lab: Lab, place: str) -> None:
    """The control: with an empty ruleset everywhere, every probe opens and the evaluator
    says accept (a broken topology would make every 'drop' agree by accident)."""
    topology = build(lab)
    ruleset = load(topology, Case(0, place, ""))
    probes = [Probe(f, proto, SERVER_PORTS[0], 30_000 + i)
              for i, (f, proto) in enumerate([(4, "tcp"), (6, "tcp"), (4, "udp"), (6, "udp")])]
    case = Case(0, place, "")
    for probe in probes:
        assert ruleset.evaluate(packet(case, probe)).verdict == "accept"
        assert topology.client.call(send, probe, timeout=10) == "open"
