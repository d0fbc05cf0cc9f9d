"""A real firewalld in the lab: the firewall Fedora, RHEL and their clones run by default.

firewalld is the Debian package's daemon (1.3 on Debian 12), never installed: installing would
put ``firewall-cmd`` on this machine's PATH for every other lab test.
``tests/lab/fetch_firewalld.sh`` extracts ``firewalld``, ``python3-firewall`` and
``python3-nftables`` into ``/var/cache/whynet-lab/firewalld`` (or ``$WHYNET_LAB_FIREWALLD``)
with two wrappers (``bin/firewall-cmd``, ``bin/firewall-offline-cmd``) that run the extracted
tools on the extracted modules. The daemon runs in a lab namespace and a private mount
namespace (:meth:`netlab.Namespace.private_mounts`): a tmpfs ``/run`` holding a private D-Bus
system bus (no polkit on it: firewalld then authorises uid 0 only, which the lab is), its
system configuration (``/etc/firewalld``) copied into the lab's directory
(``--system-config``), the packaged zones as its default configuration, the nftables backend
(the package's ``firewalld.conf``) and ``--nofork --nopid``. Its ruleset (``table inet
firewalld``) is in that network namespace only; the lab kills the daemon and its bus with
every other process of the namespace at cleanup.

As on a server without NetworkManager, no interface is bound to a zone: the default zone
(``public``: ssh and dhcpv6-client, everything else rejected with ``icmpx admin-prohibited``)
catches them all. whynet runs in the same namespaces with the wrappers on its PATH.

``FAULTS`` and ``HEALTHY`` list every builder by scenario name (the lab's counter reads them).
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .healthy import _wait_ipv6_ready, add_ipv6
from .netlab import CLEAN_PATH, Lab, LabError, Namespace, Server, fetched_paths, sh
from .scenarios import APP, SERVER_IP, Scenario, _trusted_tls, office

#: Where tests/lab/fetch_firewalld.sh extracts firewalld (its default destination).
FIREWALLD_DIR = Path(os.environ.get("WHYNET_LAB_FIREWALLD", "/var/cache/whynet-lab/firewalld"))
FETCH_SCRIPT = "tests/lab/fetch_firewalld.sh"
#: The private system bus's configuration (the one systemd-resolved's lab uses).
BUS_CONF = Path(__file__).resolve().parent / "resolved-bus.conf"
SYSTEM_PYTHON = "/usr/bin/python3"  # the interpreter python3-dbus and python3-gi are built for

SERVICE_PORT = 8080  # the web service the default zone does not open


@dataclass(frozen=True)
class FirewalldFiles:
    """The extracted firewalld: the daemon, its Python modules, its packaged configuration
    (zones, services: ``--default-config``), the packaged ``/etc/firewalld`` and the
    directory of the two wrappers."""

    daemon: Path
    pythonpath: Path
    default_config: Path
    system_config: Path
    bin: Path


def extracted_firewalld(directory: Path = FIREWALLD_DIR) -> FirewalldFiles | None:
    """What fetch_firewalld.sh left in ``directory`` (its ``env`` file), or None."""
    paths = fetched_paths(directory, "FIREWALLD", "PYTHONPATH", "DEFAULT_CONFIG",
                          "SYSTEM_CONFIG", "BIN")
    if paths is None:
        return None
    files = FirewalldFiles(*paths)
    if not (files.daemon.is_file() and (files.bin / "firewall-cmd").is_file()
            and files.default_config.is_dir() and files.system_config.is_dir()):
        return None
    return files


def missing_reason() -> str | None:
    """Why firewalld cannot run in this lab, or None."""
    if extracted_firewalld() is None:
        return (f"no extracted firewalld in {FIREWALLD_DIR}: run {FETCH_SCRIPT} as root "
                "(CI's .ci/run does)")
    for tool in ("dbus-daemon", "unshare", "nsenter", SYSTEM_PYTHON):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (firewalld needs a private D-Bus and mounts)"
    return None


def require_firewalld() -> FirewalldFiles:
    """The extracted firewalld; skips the test, naming the script to run, without it
    (builders call it first: no network is built for nothing)."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    files = extracted_firewalld()
    assert files is not None
    return files


@dataclass
class Firewalld:
    """firewalld running in ``ns`` (and its private mounts), driven by firewall-cmd."""

    ns: Namespace
    files: FirewalldFiles
    holder: Server
    system_config: Path  # this daemon's /etc/firewalld (a copy in the lab's directory)
    pids: dict[str, int]  # the daemon's and its bus's: the lab must have killed them at cleanup

    @property
    def env(self) -> dict[str, str]:
        """The environment whynet needs to find this firewall-cmd."""
        return {"PATH": f"{self.files.bin}:{CLEAN_PATH}"}

    def cmd(self, *args: str, check: bool = True) -> str:
        """``firewall-cmd ARGS`` inside; its stdout. The TEST changes firewalld with it,
        never whynet."""
        return self.ns.exec(str(self.files.bin / "firewall-cmd"), *args, check=check).stdout


def start_firewalld(ns: Namespace) -> Firewalld:
    """firewalld in ``ns`` with the packaged configuration (default zone public, nftables
    backend): private mounts, a private system bus, then the daemon, waited for until
    ``firewall-cmd --state`` says running (it has applied its ruleset by then)."""
    files = require_firewalld()
    work = ns.lab.workdir / f"firewalld-{ns.role}"
    shutil.copytree(files.system_config, work / "etc")
    q = shlex.quote
    ctl = q(str(files.bin / "firewall-cmd"))
    setup = f"""
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/dbus
dbus-daemon --config-file={q(str(BUS_CONF))} --nofork --nopidfile >&2 &
i=0
until [ -S /run/dbus/system_bus_socket ]; do
    i=$((i + 1)); [ "$i" -lt 200 ] || {{ echo "no D-Bus socket" >&2; exit 1; }}; sleep 0.05
done
PYTHONPATH={q(str(files.pythonpath))} {SYSTEM_PYTHON} {q(str(files.daemon))} --nofork --nopid \\
    --system-config {q(str(work / 'etc'))} --default-config {q(str(files.default_config))} \\
    --log-target console >&2 &
i=0
until [ "$({ctl} --state 2>/dev/null)" = running ]; do
    i=$((i + 1)); [ "$i" -lt 300 ] || {{ echo "firewalld not running" >&2; exit 1; }}; sleep 0.1
done
"""
    holder = ns.private_mounts(setup, what="firewalld", timeout=60.0)
    return Firewalld(ns, files, holder, work / "etc", _daemon_pids(ns, files))


def _daemon_pids(ns: Namespace, files: FirewalldFiles) -> dict[str, int]:
    """The pids of firewalld and of its private dbus-daemon, among the namespace's processes."""
    pids: dict[str, int] = {}
    for pid in map(int, sh("ip", "netns", "pids", ns.netns, timeout=5).stdout.split()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(files.daemon).encode() in argv:
            pids["firewalld"] = pid
        elif argv[0].endswith(b"dbus-daemon") and str(BUS_CONF).encode() in b" ".join(argv):
            pids["dbus-daemon"] = pid
    if set(pids) != {"firewalld", "dbus-daemon"}:
        raise LabError(f"firewalld's processes not found in {ns.netns}: {pids}")
    return pids


def firewalld_of(sc: Scenario) -> Firewalld:
    """The firewalld a scenario of this module runs (on its server, or on its client)."""
    fw = sc.info["firewalld"]
    assert isinstance(fw, Firewalld)
    return fw


# --- the networks -------------------------------------------------------------------------------

def _server_with_firewalld(lab: Lab, name: str, *, on: str, open_port: bool = False,
                           target: str | None = None, **kw: object) -> Scenario:
    """The office; its server (198.51.100.20, behind the gateway) runs firewalld with the
    default zone. ``open_port``: the test-side set-up opens 8080 in the zone (``firewall-cmd
    --add-port``, runtime). ``target``: the zone's target, set in the permanent configuration
    and reloaded (``--set-target=DROP``). ``on``: where whynet runs: ``server`` (``--listen
    8080``: "can I serve on 8080 here?", asked before the service runs, so nothing holds the
    port yet; the test starts it afterwards) or ``client`` (``app.corp.test:8080``, with the
    web service on 8080 running)."""
    require_firewalld()
    o = office(lab)
    fw = start_firewalld(o.server)
    web = o.server.http_server(SERVER_IP, SERVICE_PORT) if on == "client" else None
    if open_port:
        fw.cmd(f"--add-port={SERVICE_PORT}/tcp")
    if target:
        fw.cmd("--permanent", "--zone=public", f"--set-target={target}")
        fw.cmd("--reload")
    servers = {"firewalld": fw.holder, **({"web": web} if web else {})}
    info = {"firewalld": fw, "reach": [(SERVER_IP, SERVICE_PORT)] if open_port else []}
    if on == "server":
        return Scenario(name, o.server, None, env=fw.env, args=("--listen", str(SERVICE_PORT)),
                        nodes=o.nodes(), servers={"dns": o.dns_server, **servers}, info=info,
                        **kw)  # type: ignore[arg-type]
    return o.scenario(name, f"{APP}:{SERVICE_PORT}", servers=servers, info=info,
                      **kw)  # type: ignore[arg-type]


V6_LAN, V6_FAR = "fd20:0:0:20::", "2001:db8:51::"
SERVER_IP6 = f"{V6_FAR}20"


def dual_stack_server(lab: Lab) -> Scenario:
    """The dual-stack office (healthy.dual_stack's addresses); the server runs firewalld
    with the default zone, whose IPv6 traffic first meets firewalld's reverse-path filter
    (``fib saddr . mark . iif oif missing drop``, IPv6_rpfilter=yes). whynet on the server,
    ``--listen 8080``: the zone must be named from both families' verdicts."""
    require_firewalld()
    o = office(lab)
    add_ipv6(o, V6_LAN, V6_FAR)
    _wait_ipv6_ready(o.client, o.gw, o.server, o.lan.ns)
    fw = start_firewalld(o.server)
    return Scenario("firewalld-dual-stack-listen", o.server, None, env=fw.env,
                    args=("--listen", str(SERVICE_PORT)), nodes=o.nodes(),
                    servers={"dns": o.dns_server, "firewalld": fw.holder},
                    info={"firewalld": fw}, checklist=("C2", "F2"), layer=None,
                    expect="firewall.firewalld-zone-closes-listen-port")


def _build(name: str, **kw: object) -> Callable[[Lab], Scenario]:
    def build(lab: Lab) -> Scenario:
        return _server_with_firewalld(lab, name, **kw)  # type: ignore[arg-type]
    build.__name__ = name.replace("-", "_")
    return build


def client_with_firewalld(lab: Lab) -> Scenario:
    """A Fedora desktop or RHEL host: firewalld with the default zone (nothing open but ssh
    and dhcpv6-client) on the client, diagnosing an https site on the lab's server. Outbound
    connections are allowed (firewalld filters what comes in) and the answers come back as
    ``ct state established``."""
    require_firewalld()
    o = office(lab)
    web, env = _trusted_tls(lab, o.server, SERVER_IP)
    fw = start_firewalld(o.client)
    return o.scenario("firewalld-client-https", f"https://{APP}/", env={**env, **fw.env},
                      servers={"web": web, "firewalld": fw.holder},
                      info={"firewalld": fw, "reach": [(SERVER_IP, 443)]},
                      expect="firewalld's default zone lets the host's own connections out "
                             "and their answers in: no warning")


FAULTS: dict[str, Callable[[Lab], Scenario]] = {
    # C2/F2: the server asks whether clients will reach a service on 8080; the default zone
    # opens ssh and dhcpv6-client only.
    "firewalld-zone-closes-listen-port": _build(
        "firewalld-zone-closes-listen-port", on="server", checklist=("C2", "F2"), layer=None,
        expect="firewall.firewalld-zone-closes-listen-port"),
    # F5/B1: the client connects to that service and gets firewalld's reject, icmpx
    # admin-prohibited, which connect() reports as "No route to host".
    "firewalld-rejects-admin-prohibited": _build(
        "firewalld-rejects-admin-prohibited", on="client", checklist=("F5", "B1"),
        layer="transport", expect="firewall.rejected-admin-prohibited"),
    # F5/B1: the zone's target set to DROP (permanent configuration, reloaded): firewalld
    # drops everything the zone does not open, ICMP included, so the client's SYNs and pings
    # go unanswered.
    "firewalld-drop-zone-times-out": _build(
        "firewalld-drop-zone-times-out", on="client", target="DROP", checklist=("F5", "B1"),
        layer="transport", expect="transport.tcp-timeout-silent-drop"),
    # C2/F2: the same server asks about 8080: the zone names its target, DROP.
    "firewalld-drop-zone-listen": _build(
        "firewalld-drop-zone-listen", on="server", target="DROP", checklist=("C2", "F2"),
        layer=None, expect="firewall.firewalld-zone-closes-listen-port"),
    # C2/F2 on a dual-stack server: IPv6 clients pass firewalld's reverse-path filter and
    # meet the same zone.
    "firewalld-dual-stack-listen": dual_stack_server,
}

HEALTHY: dict[str, Callable[[Lab], Scenario]] = {
    # The same server with 8080 opened in the zone (by the test): whynet on the server...
    "firewalld-port-open-listen": _build("firewalld-port-open-listen", on="server",
                                         open_port=True),
    # ... and the client's diagnosis of the service.
    "firewalld-port-open-client": _build("firewalld-port-open-client", on="client",
                                         open_port=True),
    "firewalld-client-https": client_with_firewalld,
}
