"""One measurement in a fresh interpreter; prints one JSON line (seconds, peak memory).

``python -m tests.benchmarks.measure json-load FILE``     the floor: json.load of a snapshot
``python -m tests.benchmarks.measure diagnose FILE``      whynet diagnose --snapshot FILE, in-process
``python -m tests.benchmarks.measure silent-drops N T``   N targets behind a silent drop (lab)
``python -m tests.benchmarks.measure probe T TARGET...``  (inside the lab's client namespace)
``python -m tests.benchmarks.measure collect-ns RULES``   whynet collect vs the raw commands (lab)

Wall time and CPU time are both reported: on a shared machine the CPU time of the work is the
steadier figure (waiting for a core is not the program's cost). Imports happen before the
clock starts (the start-up figures measure those separately); peak
memory is the process's peak resident set (``VmHWM``), so each run has a process of its own.
"""

from __future__ import annotations

import json
import resource
import shlex
import sys
import time
from pathlib import Path
from typing import Any


def _peak_mib() -> float:
    """This process's peak resident memory. /proc's VmHWM belongs to this program alone;
    ``ru_maxrss`` would start at the parent's size (it survives fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _emit(seconds: float, **extra: Any) -> None:
    print(json.dumps({"seconds": seconds, "peak_mib": _peak_mib(), **extra}))


def json_load(path: str) -> None:
    start, cpu = time.perf_counter(), time.process_time()
    with open(path, encoding="utf-8") as fh:
        json.load(fh)
    _emit(time.perf_counter() - start, cpu=time.process_time() - cpu)


def diagnose(path: str) -> None:
    from engine.diagnose import diagnose as run_diagnosis
    from engine.knowledge import load_knowledge

    start, cpu = time.perf_counter(), time.process_time()
    kb = load_knowledge(include_user=False)
    report = run_diagnosis(kb, [], snapshot=path)
    text = json.dumps(report, default=str)
    _emit(time.perf_counter() - start, cpu=time.process_time() - cpu, report_bytes=len(text),
          rules=sorted({f["rule"] for f in report["findings"]}),
          warnings=sorted({f["rule"] for f in report["findings"]
                           if f["severity"] in ("warning", "error")}))


def probe(timeout: float, targets: list[str]) -> None:
    """Inside the client namespace: collect, then probe every target (what diagnose does
    before inference); the probing time is what a silent drop can stretch."""
    from engine.collectors import collect_all
    from engine.collectors.base import CollectContext
    from engine.probes import probe as run_probes
    from engine.probes.target import parse_target

    facts = collect_all(CollectContext(env={}))
    parsed = [parse_target(t) for t in targets]
    start = time.perf_counter()
    probe_facts = run_probes(parsed, facts, timeout=timeout, env={}, listen_ports=[])
    seconds = time.perf_counter() - start
    outcomes = sorted({f.fields.get("outcome") for f in probe_facts if f.kind == "probe_tcp"})
    _emit(seconds, targets=len(parsed), tcp_outcomes=outcomes)


def silent_drops(n: int, timeout: float) -> None:
    """A client and a server namespace on one cable; the server drops every TCP SYN to ports
    9000.. silently (nft drop). N targets ``10.X.0.2:900k``; the probe time from the client."""
    from tests.lab.netlab import Lab

    with Lab() as lab:
        client, server = lab.host("client"), lab.host("server")
        lab.link(client, server, "10.77.0.1/24", "10.77.0.2/24")
        server.nft("table inet bench_drop {\n"
                   "  chain input {\n"
                   "    type filter hook input priority filter; policy accept;\n"
                   "    tcp dport 9000-9999 drop\n"
                   "  }\n"
                   "}\n")
        targets = [f"10.77.0.2:{9000 + i}" for i in range(n)]
        code = ("import sys; from tests.benchmarks.measure import main; "
                f"sys.argv = ['measure', 'probe', {str(timeout)!r}, *{targets!r}]; main()")
        proc = client.python(code, env={"PYTHONPATH": sys.path[0] or "."},
                             timeout=timeout * 4 + 120)
        if proc.returncode != 0:
            raise SystemExit(f"probe failed: {proc.stderr[-2000:]}")
        print(proc.stdout.strip().splitlines()[-1])


# What the collectors run in the benchmark's namespace (listed from ``strace -f -e
# trace=execve whynet collect`` there, without what those commands run themselves: ufw runs
# ``iptables -L``), one after the other: the floor of a collection.
RAW_COMMANDS = (
    ("iptables-nft-save",), ("ip6tables-nft-save",), ("nft", "-j", "list", "ruleset"),
    ("iptables", "-V"),  # which variant the plain iptables is
    # Legacy tables are read only where /proc/net/ip_tables_names exists, as here.
    ("iptables-legacy-save",), ("ip6tables-legacy-save",),
    ("ufw", "status", "verbose"),
    ("ip", "-j", "-d", "link", "show"), ("ip", "-j", "addr", "show"),
    ("ip", "-j", "-d", "-4", "route", "show", "table", "all"),
    ("ip", "-j", "-d", "-6", "route", "show", "table", "all"),
    ("ip", "-j", "rule", "show"), ("ip", "-j", "-6", "rule", "show"),
    ("ip", "-j", "neigh", "show"),
    ("node", "-p", "require('tls').rootCertificates.length"),  # Node.js's own CA store
)


def collect_in_namespace(rules: int) -> None:
    """A namespace holding a kube-proxy ruleset of ``rules`` rules (iptables-nft): the raw
    commands, then ``whynet collect``, each timed from the outside (start-up included)."""
    from tests.benchmarks.generate import kube_proxy_ruleset
    from tests.lab.netlab import Lab

    with Lab() as lab:
        node = lab.host("node")
        node.exec("iptables-nft-restore", input=kube_proxy_ruleset(rules), timeout=300)
        # One shell runs them all, as one whynet runs them: one `ip netns exec` on each side.
        script = "; ".join(f"{shlex.join(argv)} >/dev/null 2>&1" for argv in RAW_COMMANDS)
        start, cpu = time.perf_counter(), _children_cpu()
        node.exec("sh", "-c", script, check=False, timeout=300)
        raw, raw_cpu = time.perf_counter() - start, _children_cpu() - cpu
        whynet = str(Path(sys.executable).with_name("whynet"))
        # Once with byte-code written (the lab's environment forbids it), as an installed
        # whynet has it: the timed run then reads it rather than compiling 100 modules.
        node.exec("env", "-u", "PYTHONDONTWRITEBYTECODE", whynet, "collect", "-o", "/dev/null",
                  timeout=600)
        start, cpu = time.perf_counter(), _children_cpu()
        proc = node.exec(whynet, "collect", "-o", "/dev/null", timeout=600)
        seconds, collect_cpu = time.perf_counter() - start, _children_cpu() - cpu
        _emit(seconds, cpu=collect_cpu, raw=raw, raw_cpu=raw_cpu, ratio=seconds / raw,
              cpu_ratio=collect_cpu / raw_cpu, said=proc.stderr.strip()[-200:])


def _children_cpu() -> float:
    """CPU seconds (user + system) of the commands run and waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    what, *args = sys.argv[1:]
    if what == "json-load":
        json_load(args[0])
    elif what == "diagnose":
        diagnose(args[0])
    elif what == "probe":
        probe(float(args[0]), args[1:])
    elif what == "silent-drops":
        silent_drops(int(args[0]), float(args[1]))
    elif what == "collect-ns":
        collect_in_namespace(int(args[0]))
    else:
        raise SystemExit(f"unknown measurement {what!r}")


if __name__ == "__main__":
    main()
