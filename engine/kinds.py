"""Every fact kind whynet collects or probes, with typed, described fields.

This is the contract between the producers of facts (collectors, probes) and their consumers
(the knowledge base, the validator, the README's fact reference). Like osquery's table specs:
one declaration per kind; ``tests/test_kinds.py`` checks every live fact against it.

Field types: ``str``, ``int``, ``float`` (an int or a float), ``bool``, ``list`` (of str unless
said), ``ip`` (an address as text), ``cidr`` (``10.0.0.0/8``), ``any``. Every field may be
``null`` where noted "or null". Rules may also match the kinds their own ``then:`` clauses derive.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache


@dataclass(frozen=True)
class FieldSpec:
    type: str
    description: str


@dataclass(frozen=True)
class KindSpec:
    name: str
    description: str
    producer: str  # the module that produces it
    fields: dict[str, FieldSpec]


def _k(
    kind: str, producer: str, description: str, /, **fields: tuple[str, str]
) -> KindSpec:
    return KindSpec(kind, description, producer, {k: FieldSpec(*v) for k, v in fields.items()})


_PROBE_COMMON = {
    "target": ("str", "the target as the user wrote it"),
    "layer": ("str", "link|address|route|name|transport|tls|proxy|application"),
    "outcome": ("str", "closed set, see README: open, refused, timeout, unreachable, ..."),
    "elapsed_ms": ("int", "how long the probe took, or null"),
    "error": ("str", "the error text as the OS or library gave it, or null"),
}

KINDS: dict[str, KindSpec] = {
    k.name: k
    for k in [
        # --- collected ------------------------------------------------------------------
        _k("interface", "collectors.links", "a network interface (link)",
           name=("str", "interface name"), mac=("str", "link-layer address, or null"),
           state=("str", "operstate: up, down, unknown"), mtu=("int", "MTU"),
           link_kind=("str", "the interface's own kind (named link_kind because 'kind' is "
                             "the fact's kind): physical, loopback, veth, bridge, bond, vlan, "
                             "tun, tap, wireguard, dummy, vm (virbr/vboxnet/vmnet), container "
                             "(docker0/cni/podman), virtual"),
           flags=("list", "link flags (UP, LOWER_UP, NOARP...)"),
           master=("str", "bridge/bond it is enslaved to, or null"),
           slave_kind=("str", "what kind of master it is enslaved to (bridge, bond, team, "
                              "vrf...: ip -d link's info_slave_kind), or null"),
           netns=("str", "network namespace name when known, or null")),
        _k("address", "collectors.links", "an IP address on an interface",
           interface=("str", "interface name"), ip=("ip", "the address"),
           prefix=("int", "prefix length"), family=("int", "4 or 6"),
           scope=("str", "global, link, host"), network=("cidr", "the subnet it is on"),
           dynamic=("bool", "from DHCP/SLAAC (has a lifetime)"),
           duplicate=("bool", "the kernel's duplicate address detection failed (IPv6 "
                              "dadfailed): another host has this address")),
        _k("route", "collectors.routes", "a route in any routing table",
           destination=("str", "'default' or a CIDR"), gateway=("ip", "next hop, or null"),
           interface=("str", "output interface, or null"), metric=("int", "metric, 0 if none"),
           table=("str", "table name or number (main, local, 100...)"),
           protocol=("str", "kernel, boot, static, dhcp, ..."),
           type=("str", "unicast, local, broadcast, blackhole, unreachable, prohibit..."),
           family=("int", "4 or 6"), scope=("str", "link, global, host"),
           prefsrc=("ip", "preferred source address, or null")),
        _k("policy_rule", "collectors.routes", "an `ip rule` policy routing rule",
           priority=("int", "rule priority"), selector=("str", "what it matches, as text"),
           table=("str", "table it sends to"), family=("int", "4 or 6"),
           action=("str", "lookup, blackhole, unreachable, prohibit..."),
           src=("str", "source selector CIDR or 'all'"), dst=("str", "destination CIDR or null"),
           fwmark=("str", "fwmark or null"), iif=("str", "input interface or null"),
           oif=("str", "output interface or null"),
           default=("bool", "one of the three rules every Linux host has (local, main, default)")),
        _k("neighbor", "collectors.routes", "an ARP/NDP neighbour entry",
           ip=("ip", "neighbour address"), mac=("str", "its link-layer address, or null"),
           interface=("str", "interface"), state=("str", "REACHABLE, STALE, FAILED..."),
           family=("int", "4 or 6")),
        _k("hosts_entry", "collectors.hosts", "one line of the hosts file",
           ip=("ip", "the address"), names=("list", "names on the line"),
           line=("int", "line number"), loopback=("bool", "ip is loopback or unspecified"),
           file=("str", "the hosts file read")),
        _k("nameserver", "collectors.resolver", "a configured DNS server",
           ip=("ip", "server address"), origin=("str", "resolv.conf, systemd-resolved"),
           link=("str", "interface for per-link DNS, or null"),
           stub=("bool", "a local stub (127.0.0.53, 127.0.0.1)")),
        _k("resolved_config", "collectors.resolver", "systemd-resolved's configuration, "
           "resolved.conf and its drop-ins merged (the source names the file and line of "
           "DNSOverTLS=, else DNS=)",
           dns=("list", "DNS= servers as written (ADDRESS[:PORT][%IFACE][#NAME])"),
           fallback_dns=("list", "FallbackDNS= servers"),
           domains=("list", "Domains= (a ~ marks a routing-only domain)"),
           dns_over_tls=("str", "DNSOverTLS=: yes, opportunistic, no; null when unset (no)"),
           dnssec=("str", "DNSSEC=, or null"),
           files=("list", "the files read, in the order applied")),
        _k("dns_domain", "collectors.resolver", "a DNS domain systemd-resolved keeps for a "
           "link (or globally), from `resolvectl domain`",
           link=("str", "the link, or null for Global"),
           domain=("str", "the domain, lower case, without ~ or trailing dot ('.' for ~.)"),
           routing_only=("bool", "written ~domain: names under it go to this link's servers; "
                                 "not a search domain")),
        _k("resolver_config", "collectors.resolver", "resolver settings",
           search=("list", "search domains"), options=("list", "resolv.conf options"),
           nsswitch_hosts=("list", "the hosts: line of nsswitch.conf, in order"),
           resolv_conf=("str", "path read"), managed_by=("str", "systemd-resolved, "
                                                       "NetworkManager, resolvconf or null"),
           nameserver_count=("int", "how many nameservers resolv.conf lists")),
        _k("listener", "collectors.sockets", "a listening socket",
           ip=("ip", "bound address"), port=("int", "port"), protocol=("str", "tcp or udp"),
           family=("int", "4 or 6"), pid=("int", "owning pid, or null"),
           process=("str", "process name, or null (not visible without root)"),
           user=("str", "owning user, or null")),
        _k("sysctl", "collectors.sysctl", "a kernel network setting",
           name=("str", "dotted name (net.ipv4.ip_forward)"), value=("str", "value as text"),
           int_value=("int", "first integer in the value, or null")),
        _k("conntrack_table", "collectors.conntrack", "the connection-tracking table: how "
           "full it is and what it could not track (X41)",
           count=("int", "entries now (this network namespace)"),
           max=("int", "net.netfilter.nf_conntrack_max: the most entries the kernel keeps"),
           fill_percent=("int", "count as a percentage of max, or null"),
           drop=("int", "packets dropped because no entry could be made (table full), summed "
                        "over CPUs since boot, or null"),
           early_drop=("int", "entries evicted to make room, or null"),
           insert_failed=("int", "entries that could not be inserted, or null"),
           invalid=("int", "packets conntrack could not classify, or null"),
           search_restart=("int", "lookups restarted, or null")),
        _k("counter_change", "probes.counters", "a kernel drop counter read before and after "
           "the probes (reverse-path filter, conntrack)",
           name=("str", "TcpExt.IPReversePathFilter, nf_conntrack.drop, ..."),
           before=("int", "value before the probes"), after=("int", "value after them"),
           delta=("int", "after - before: what the kernel counted while whynet probed")),
        _k("firewall_backend", "collectors.firewall_*", "a firewall that is (or is not) here",
           backend=("str", "nftables, iptables, ip6tables, ufw, firewalld"),
           present=("bool", "its tool or service exists"), active=("bool", "it filters traffic"),
           rule_count=("int", "rules it holds"), variant=("str", "legacy or nf_tables, or null"),
           default_incoming=("str", "ufw/firewalld default for incoming, or null"),
           default_outgoing=("str", "ufw default for outgoing, or null"),
           total_rule_count=("int", "nftables: every rule nft shows, iptables-nft's included "
                                    "(rule_count counts the tables nftables itself owns)"),
           legacy_tables_present=("bool", "iptables nf_tables variant: iptables-nft-save warns "
                                          "that legacy tables are loaded too"),
           active_source=("str", "ufw: 'ufw status', or 'ufw.conf ENABLED' when not root"),
           default_routed=("str", "ufw default for routed traffic (allow, deny, reject, "
                                  "disabled), or null"),
           logging=("str", "ufw logging level ('on (low)', 'off'), or null"),
           default_zone=("str", "firewalld default zone, or null")),
        _k("firewall_chain", "collectors.firewall_*", "a chain (base chains have hook, policy, priority)",
           backend=("str", "nftables, iptables, ip6tables"), family=("str", "ip, ip6, inet..."),
           table=("str", "table"), chain=("str", "chain"), hook=("str", "input, output, "
                                                                 "forward, prerouting..."),
           policy=("str", "accept or drop, or null for non-base chains"),
           priority=("int", "hook priority, or null"), rule_count=("int", "rules in it"),
           variant=("str", "iptables: legacy or nf_tables; null for nftables"),
           type=("str", "base chain type: filter, nat, route; or null"),
           reached_from=("list", "hooks from which a jump/goto path reaches the chain"),
           managed_by=("str", "tool that owns it: iptables-nft, firewalld, ufw, docker, "
                              "fail2ban, kubernetes, libvirt; or null"),
           authoritative=("bool", "false when another collector's facts are the authoritative "
                                  "record of the same chain (nft view of iptables-nft tables)"),
           devices=("list", "nftables netdev chains: the devices the chain is bound to"),
           handle=("int", "nftables: the chain's handle (creation order within its table)"),
           table_handle=("int", "nftables: its table's handle (creation order)")),
        _k("firewall_rule", "collectors.firewall_*", "one firewall rule",
           backend=("str", "nftables, iptables, ip6tables, ufw, firewalld"),
           family=("str", "ip, ip6, inet, ..."), table=("str", "table"), chain=("str", "chain"),
           hook=("str", "hook of its chain, or null"), handle=("int", "nft handle, or null"),
           position=("int", "position in its chain, from 1"),
           protocol=("str", "tcp, udp, icmp, ... or null for any"),
           dports=("list", "destination ports (ints) it matches; empty for any"),
           sports=("list", "source ports (ints); empty for any"),
           saddr=("list", "source addresses/CIDRs; empty for any"),
           daddr=("list", "destination addresses/CIDRs; empty for any"),
           iifname=("str", "input interface or null"), oifname=("str", "output interface or null"),
           ct_state=("list", "conntrack states matched"),
           verdict=("str", "accept, drop, reject, jump, goto, return, masquerade, snat, dnat..."),
           reject_with=("str", "tcp-reset, icmp-port-unreachable, icmp-admin-prohibited, "
                               "icmp-host-prohibited..., or null"),
           target=("str", "jump/goto target chain or nat address, or null"),
           text=("str", "the rule as text"),
           variant=("str", "iptables: legacy or nf_tables; null otherwise"),
           protocols=("list", "protocols matched when more than one (meta l4proto {tcp, udp}, "
                              "ufw port without proto); [protocol] when one"),
           dport_ranges=("list", "destination port ranges as 'lo-hi' (also expanded into "
                                 "dports when they span at most 1024 ports)"),
           sport_ranges=("list", "source port ranges as 'lo-hi'"),
           not_saddr=("list", "source addresses/CIDRs the rule excludes (!= / ! -s)"),
           not_daddr=("list", "destination addresses/CIDRs the rule excludes"),
           not_dports=("list", "destination ports (ints) the rule excludes"),
           not_sports=("list", "source ports (ints) the rule excludes"),
           not_iifname=("str", "input interface the rule excludes, or null"),
           not_oifname=("str", "output interface the rule excludes, or null"),
           reached_from=("list", "hooks from which its chain is reached (jump/goto paths)"),
           action=("str", "the backend's own word: ACCEPT, REJECT, LOG, 'ALLOW IN', vmap..."),
           managed_by=("str", "tool that owns its chain or table: iptables-nft, firewalld, "
                              "ufw, docker, fail2ban, kubernetes, libvirt; or null"),
           authoritative=("bool", "false when another collector records the same rule "
                                  "authoritatively (nft view of iptables-nft rules, ufw's "
                                  "summary of its iptables rules): count only true ones"),
           unparsed=("list", "match expressions/options not decoded into fields (xt conntrack, "
                             "limit, vmap, --tcp-flags...): the rule matches less than its "
                             "fields say"),
           matches=("list", "the rule's exact conjunction, in order, for the firewall "
                            "evaluator: objects {field, op, values, text}; field is nfproto, "
                            "l4proto, saddr, daddr, sport, dport, iifname, oifname, ct_state "
                            "or unknown (not modelled: text names it); op == (any value) or "
                            "!= (none); port ranges as [lo, hi]; implied matches included"),
           vmap=("any", "nftables verdict map as {field, text, pairs: [{values, verdict, "
                        "target}]}, or null")),
        _k("firewall_file", "collectors.firewall_files", "a firewall file people edit, read",
           file=("str", "path"), backend=("str", "nftables, iptables, ip6tables, firewalld"),
           rule_count=("int", "rule lines in it")),
        _k("firewall_file_rule", "collectors.firewall_files", "one rule line of a firewall "
           "file, as written (before the kernel normalises it)",
           file=("str", "path"), line=("int", "line number"),
           backend=("str", "nftables, iptables, ip6tables, firewalld"),
           family=("str", "ip, ip6, inet...; null for firewalld"), table=("str", "table"),
           chain=("str", "chain (firewalld: the zone); null for a set's elements"),
           position=("int", "position among the chain's rules in the files, in load order"),
           set=("str", "nftables: the set whose elements the line lists, or null"),
           text=("str", "the line as written (variables expanded)"),
           addresses=("list", "addresses and prefixes as written"),
           host_bits=("list", "prefixes with host bits set (10.0.0.5/24): the kernel keeps "
                              "10.0.0.0/24, the whole subnet"),
           kernel_keeps=("list", "what the kernel makes of each of host_bits (10.0.0.0/24)"),
           values=("list", "ports and normalised addresses it names (compared with the live "
                           "rules)")),
        _k("firewalld_zone", "collectors.firewalld", "a firewalld zone",
           name=("str", "zone"), default=("bool", "the default zone"),
           interfaces=("list", "interfaces in it"), services=("list", "allowed services"),
           ports=("list", "allowed ports as 'N/proto'"), target=("str", "zone target"),
           active=("bool", "binds an interface or source (firewalld's 'active')"),
           applies=("bool", "filters traffic now: the daemon runs and the zone is active or "
                    "the default zone (which takes every interface no zone binds)"),
           sources=("list", "source addresses/CIDRs bound to it"),
           protocols=("list", "allowed protocols"),
           masquerade=("bool", "masquerading on"),
           forward_ports=("list", "forward-port entries as firewalld prints them"),
           icmp_blocks=("list", "blocked ICMP types"),
           rich_rules=("list", "rich rules as text")),
        _k("env_var", "collectors.environment", "an environment variable whynet cares about",
           name=("str", "variable name"), present=("bool", "set"),
           category=("str", "proxy, environment_marker, tls_override, credential"),
           value=("str", "the value when not secret (proxy URLs without credentials), or null"),
           redacted=("bool", "the value was withheld as secret"),
           has_credentials=("bool", "a URL value carried user:password")),
        _k("proxy_setting", "collectors.environment", "the effective proxy configuration",
           scheme=("str", "http, https, all"), url=("str", "proxy URL without credentials"),
           host=("str", "proxy host"), port=("int", "proxy port"),
           variable=("str", "the variable that set it"),
           no_proxy=("list", "NO_PROXY entries in force"),
           has_credentials=("bool", "the proxy URL carried user:password (stripped)"),
           ignored=("list", "proxy variables that are set but lose by curl's precedence "
                            "(HTTP_PROXY upper case for http, HTTPS_PROXY under https_proxy)")),
        _k("proxy_autoconfig", "collectors.gnome_proxy, collectors.kde_proxy, "
           "collectors.dhcp_wpad, collectors.networkd_wpad", "where a desktop or DHCP says "
           "the proxy auto-config (PAC) file is",
           origin=("str", "gnome (org.gnome.system.proxy), kde (kioslaverc), dhcp (option "
                          "252 in a dhclient, systemd-networkd or NetworkManager lease)"),
           user=("str", "whose desktop settings (a sudo user's when root runs through "
                        "sudo), or null (dhcp)"),
           sudo_uid=("int", "that sudo user's uid (root reads a local PAC file for them only "
                            "if they could), or null (the running user's own settings)"),
           mode=("str", "gnome: none, manual, auto; kde: none, manual, pac, wpad, env; dhcp: "
                        "wpad"),
           url=("str", "the PAC file's URL (credentials removed), or null"),
           uses_pac=("bool", "the desktop is set to that PAC file"),
           auto_detect=("bool", "the desktop is set to detect it (WPAD: DHCP option 252, "
                                "then wpad.DOMAIN)"),
           setting=("str", "the setting as the desktop or the lease says it"),
           interface=("str", "dhcp: the interface of the lease, or null"),
           expires=("str", "dhcp: when the lease expires (UTC, as dhclient writes it), or "
                           "null (networkd keeps only the lifetime)"),
           expired=("bool", "dhcp: the lease has expired, or null")),
        _k("credential_source", "collectors.credentials", "a place a tool reads credentials from",
           tool=("str", "aws, netrc, docker, kubernetes, postgres, git, ..."),
           path=("str", "file path, or null for variables"),
           variable=("str", "environment variable, or null for files"),
           present=("bool", "exists / is set"), readable=("bool", "readable by this user"),
           mode=("str", "permissions as octal, or null"), owner=("str", "owner, or null"),
           too_open=("bool", "group/world readable"),
           precedence=("int", "1 = consulted first by the tool; null when not consulted"),
           shadowed=("bool", "a path variable replaces this default file"),
           replaced_by=("str", "the variable that replaces it (KUBECONFIG, DOCKER_CONFIG...), "
                               "or null"),
           variables_set=("list", "for a variable source: which of its companion variables "
                                  "are set (AWS_ACCESS_KEY_ID without AWS_SECRET_ACCESS_KEY)")),
        _k("trust_store", "collectors.certstores", "a CA bundle or directory a runtime trusts",
           path=("str", "file or directory"), runtime=("str", "system, python-certifi, node, "
                                                        "java, env"),
           variable=("str", "the env override that names it, or null"),
           exists=("bool", "path exists"), readable=("bool", "readable by this user"),
           count=("int", "certificates parsed"), expired=("int", "of which expired"),
           errors=("int", "entries that did not parse"),
           store_type=("str", "bundle, directory, builtin (node), keystore (java)")),
        _k("cert", "collectors.certstores",
           "an expired certificate found in a trust store (only those are recorded)",
           path=("str", "store"), subject=("str", "subject"), not_after=("str", "ISO time"),
           expired=("bool", "past not_after"),
           store=("str", "id of the trust_store fact it was found in")),
        # --- collected on Windows by collectors/windows_profiles.ps1 (a snapshot) -----
        _k("windows_network_profile", "collectors/windows_profiles.ps1",
           "a connected network and its category (Get-NetConnectionProfile)",
           name=("str", "the network's name (SSID, domain, 'Network 2')"),
           interface=("str", "InterfaceAlias"), interface_index=("int", "InterfaceIndex"),
           category=("str", "Public, Private or DomainAuthenticated"),
           firewall_profile=("str", "the firewall profile that applies: Public, Private, Domain"),
           ipv4_connectivity=("str", "Internet, LocalNetwork, NoTraffic..."),
           ipv6_connectivity=("str", "Internet, LocalNetwork, NoTraffic...")),
        _k("windows_firewall_profile", "collectors/windows_profiles.ps1",
           "a Windows Firewall profile (Get-NetFirewallProfile)",
           profile=("str", "Domain, Private or Public"), enabled=("bool", "filtering is on"),
           default_inbound=("str", "Block, Allow or NotConfigured (Block)"),
           default_outbound=("str", "Block, Allow or NotConfigured (Allow)"),
           allow_local_rules=("str", "whether local rules apply (group policy may say False)"),
           log_blocked=("bool", "dropped packets are logged")),
        _k("windows_firewall_rule", "collectors/windows_profiles.ps1",
           "an enabled Windows Firewall rule, once per profile and local port it covers "
           "(Get-NetFirewallRule, Get-NetFirewallPortFilter)",
           name=("str", "the rule's Name (its ID)"), display_name=("str", "DisplayName"),
           direction=("str", "Inbound or Outbound"), action=("str", "Allow or Block"),
           enabled=("bool", "always true: disabled rules are not written"),
           profile=("str", "Domain, Private or Public: one of the rule's profiles"),
           rule_profiles=("str", "the rule's Profile as Windows shows it ('Domain, Private')"),
           protocol=("str", "TCP, UDP, ANY, ICMPV4..."),
           local_port=("str", "one local port or range, or Any"),
           group=("str", "DisplayGroup, or empty")),
        _k("collection_error", "engine.facts", "a source that could not be read",
           collector=("str", "which collector"), reason=("str", "why, one line")),
        _k("source_absent", "engine.facts", "a source this machine does not have",
           collector=("str", "which collector"), what=("str", "binary/file/service"),
           reason=("str", "why it counts as absent")),
        # --- probed ---------------------------------------------------------------------
        _k("probe_target", "probes.target", "a target as parsed",
           **_PROBE_COMMON, host=("str", "host name or address"), port=("int", "port"),
           port_reason=("str", "'explicit' or '<scheme> default'"),
           scheme=("str", "URL scheme or null"), is_ip=("bool", "host is an address"),
           tls=("bool", "the scheme or port implies TLS"),
           port_text=("str", "'port 443 (https default)', or the no-port sentence"),
           path=("str", "URL path and query, '/' otherwise")),
        _k("probe_resolve", "probes.dns", "a name resolution attempt",
           **_PROBE_COMMON, host=("str", "name"),
           via=("str", "'system' (getaddrinfo) or the nameserver address"),
           transport=("str", "system, udp or tcp"), rdtype=("str", "A, AAAA or ANY"),
           addresses=("list", "addresses answered"),
           hosts_line=("int", "line of the hosts file that answered, or null"),
           from_hosts=("bool", "the system answer came from the hosts file"),
           qname=("str", "the name finally asked, after search domains"),
           rcode=("str", "NOERROR, NXDOMAIN...; null for the system resolver"),
           fallback=("str", "why TCP was used after UDP (truncated, no UDP answer), or null"),
           hosts_addresses=("list", "system only: what the hosts file gives the name"),
           nsswitch_hosts=("list", "system only: the nsswitch order used"),
           canonical=("str", "system only: the canonical name getaddrinfo answered for "
                             "(AI_CANONNAME), or null"),
           expanded_by=("str", "system only: the search domain the system resolver appended "
                               "(read from the canonical name), or null"),
           expanded=("bool", "nameserver only: the answer came for a search-domain expansion "
                             "(qname), not the name as typed"),
           as_typed_outcome=("str", "nameserver only: when a name with a dot was answered "
                                    "through a search domain, the outcome for the name as "
                                    "typed; else null"),
           as_typed_addresses=("list", "nameserver only: the addresses of the name as typed, "
                                       "in that case; else null"),
           route_interface=("str", "nameserver only, when it gave no answer: the interface "
                                   "the route to the server leaves on (`ip route get`), so "
                                   "replies that come back on another one can be told; "
                                   "else null")),
        _k("probe_portal", "probes.portal", "a known-answer URL the user named, fetched to "
           "see whether a captive portal answers instead (X22)",
           **_PROBE_COMMON, url=("str", "the known-answer URL"),
           expected=("str", "the known answer: 'HTTP 204' or a 200 with a given body"),
           ip=("ip", "the address connected to, or null"),
           status=("int", "the HTTP status, or null"),
           location=("str", "the redirect's Location, or null"),
           title=("str", "the page's <title>, or null"),
           login_form=("bool", "the page holds a form or a password field"),
           redirect=("bool", "the answer is a redirect (3xx with a Location)")),
        _k("probe_dns_transport", "probes.dot", "one DNS server asked over one transport "
           "(DNS over TLS, DNS over HTTPS, or plain DNS on port 53) when systemd-resolved is set "
           "to DNS over TLS or the user names a DoH URL (X23)",
           **_PROBE_COMMON, via=("ip", "the server"), port=("int", "the port asked (853, 53)"),
           transport=("str", "dot, doh, or udp/tcp for plain DNS"),
           sni=("str", "the server name sent in TLS (resolved.conf's #name), or null"),
           rcode=("str", "the DNS answer's response code, or null without an answer"),
           dns_over_tls=("str", "the DNSOverTLS= mode that made whynet ask, or null (DoH)"),
           url=("str", "the DNS-over-HTTPS URL (transport doh), else null")),
        _k("probe_nxdomain", "probes.dns", "a configured nameserver asked for a random name "
           "that cannot exist: an address back means it rewrites NXDOMAIN",
           **_PROBE_COMMON, via=("ip", "the nameserver asked"),
           qname=("str", "the random name asked"), transport=("str", "udp or tcp"),
           addresses=("list", "the addresses it answered (the rewrite target), or empty"),
           rcode=("str", "NOERROR, NXDOMAIN...; null without an answer")),
        _k("probe_route", "probes.route", "the route the kernel picks for an address",
           **_PROBE_COMMON, ip=("ip", "destination"), gateway=("ip", "next hop, or null"),
           interface=("str", "output interface"), src=("ip", "source address"),
           table=("str", "table that answered"), rule_priority=("int", "policy rule, or null"),
           non_default_table=("bool", "a policy rule chose a table other than main"),
           on_link=("bool", "directly connected (no gateway)"),
           route_type=("str", "unicast or local; for no_route unreachable, prohibit or "
                              "blackhole; null when there is no route at all"),
           matched_route=("str", "the route entry matched, a CIDR or 'default'")),
        _k("probe_icmp", "probes.icmp", "an ICMP echo",
           **_PROBE_COMMON, ip=("ip", "address"), method=("str", "dgram, raw or none"),
           rtt_ms=("int", "round trip, or null"),
           icmp=("str", "ICMP error received instead of a reply, or null"),
           icmp_from=("ip", "who sent that ICMP error, or null")),
        _k("probe_path_quality", "probes.quality", "loss, latency and jitter to the target's "
           "first address, from a short bounded train of ICMP echoes (X12)",
           **_PROBE_COMMON, ip=("ip", "address"), method=("str", "dgram, raw or none"),
           sent=("int", "echoes of the train (warm-up not counted)"),
           received=("int", "of them answered in time"),
           loss_pct=("float", "per cent of the train's echoes unanswered"),
           rtt_min_ms=("float", "fastest round trip in ms, or null (none answered)"),
           rtt_avg_ms=("float", "mean round trip in ms, or null"),
           rtt_max_ms=("float", "slowest round trip in ms, or null"),
           jitter_ms=("float", "mean difference in ms between the round trips of consecutive "
                               "answered echoes (mtr's Javg), or null (fewer than two)"),
           rtts_ms=("list", "each echo's round trip in ms in sending order (numbers), null "
                            "for a lost one"),
           warmup=("int", "echoes sent first, until one was answered (the next hop's ARP/NDP "
                          "answer can delay the first packets), not counted")),
        _k("probe_pmtu", "probes.pmtu", "does the segment size explain a stall (a path-MTU "
           "black hole, X11): the target's exchange at the default MSS and at a clamped one, "
           "at once (a TLS handshake after one got no answer; a GET of an http:// target; "
           "the GET over TLS for an https:// target whose handshake came in small segments), "
           "and for http(s) the same GET padded to fill full-size segments from this host "
           "(the upload direction); not_possible for other ports",
           **_PROBE_COMMON, ip=("ip", "address"), port=("int", "port"),
           family=("int", "4 or 6"),
           exchange=("str", "what was exchanged: tls_handshake, http_get, https_get (the "
                            "GET over TLS after a completed handshake; tls_ok when that "
                            "handshake already brought a full-size segment), or none (a port "
                            "whynet does not speak: nothing large to ask for)"),
           direction=("str", "which packets vanish in a black hole: download (the server's, "
                             "the default) or upload (this host's: a padded GET stalls)"),
           default_outcome=("str", "the exchange at the default MSS: tls_ok/http_ok, timeout "
                                   "(stalled), error"),
           clamped_outcome=("str", "the exchange at the clamped MSS, or null (not needed: the "
                                   "answer came at the default size)"),
           default_error=("str", "why the default one failed, or null"),
           clamped_mss=("int", "the MSS set with TCP_MAXSEG (536 IPv4, 1220 IPv6)"),
           passed_packet=("int", "the largest packet that passed: clamped MSS + IP and TCP "
                                 "headers, or null"),
           lost_packet=("int", "the full-size packet that vanished: the stalled connection's "
                               "path MTU (tcpi_pmtu), or null (no black hole)"),
           advertised_mss=("int", "the MSS the default connection's SYN announced (its path "
                                  "MTU less the IP and TCP headers), or null"),
           default_bytes_received=("int", "bytes the default connection received "
                                          "(tcpi_bytes_received), or null"),
           default_largest_segment=("int", "the largest segment the default connection "
                                           "received, in payload bytes (tcpi_rcv_mss), or null"),
           answer_bytes=("int", "http_get/https_get: bytes of the whole answer (as far as read), from "
                                "the exchange that got it; null for other exchanges"),
           default_answer_bytes=("int", "http_get/https_get: bytes of the answer the default exchange "
                                        "got before it ended or stalled"),
           kernel_path_mtu=("int", "the path MTU the kernel knows for the address (IP_MTU "
                                   "on the default connection), or null"),
           upload_request_bytes=("int", "http_get/https_get: the size of the padded GET "
                                        "that fills full-size segments from this host (over "
                                        "TLS for https_get)"),
           upload_outcome=("str", "http_get/https_get: the padded GET at the default MSS: "
                                  "http_ok (the server reacted: a byte of any status, or "
                                  "closing), timeout, error"),
           upload_clamped_outcome=("str", "http_get/https_get: the padded GET at the clamped "
                                          "MSS, or null (not needed)")),
        _k("probe_arp", "probes.arp", "who answers ARP for the next hop (duplicate IPs, C1)",
           **_PROBE_COMMON, ip=("ip", "the address asked for (target on the link, or gateway)"),
           interface=("str", "interface asked on"),
           macs=("list", "every MAC that answered, in order")),
        _k("probe_dad", "probes.dad", "duplicate address detection for one of this host's "
           "own IPv4 addresses, as `arping -D` (C1)",
           **_PROBE_COMMON, ip=("ip", "this host's address asked for"),
           interface=("str", "interface it is on"),
           macs=("list", "MACs of the other machines that answered for it")),
        _k("probe_stun", "probes.stun", "the public address the world sees, from a STUN "
           "server the user named (N3), and the routers on the way out",
           **_PROBE_COMMON, server=("str", "the server as given (HOST[:PORT])"),
           ip=("ip", "the server's address"), port=("int", "the server's UDP port"),
           local_ip=("ip", "this host's source address"), local_port=("int", "source port"),
           public_ip=("ip", "the address the server saw, or null"),
           public_port=("int", "the port the server saw, or null"),
           translated=("bool", "the server saw another address or port: NAT on the way"),
           public_ip_not_global=("bool", "the address seen is itself private or shared"),
           hops=("list", "routers answering TTL-limited copies, in order ('*': no answer)"),
           rfc1918_hops=("list", "routers with private addresses before the first public one"),
           shared_hops=("list", "routers in 100.64.0.0/10 (carrier-grade NAT) before it"),
           cgnat=("bool", "carrier-grade NAT: a router, this host or the address seen is in "
                          "100.64.0.0/10"),
           double_nat=("bool", "translated, no CGNAT, and two or more private routers before "
                               "the public internet")),
        _k("probe_tcp", "probes.tcp", "a TCP connect",
           **_PROBE_COMMON, ip=("ip", "address"), port=("int", "port"),
           errno=("str", "ECONNREFUSED, EHOSTUNREACH, ... or null"),
           icmp=("str", "the ICMP error the kernel reported (host-unreachable, "
                        "admin-prohibited, port-unreachable...), or null"),
           icmp_from=("ip", "who sent that ICMP error, or null"),
           src=("ip", "local address used, or null"), via_proxy=("bool", "through a proxy"),
           icmp_local=("bool", "the ICMP error came from this host (its output chain, or no "
                               "ARP answer); null otherwise")),
        _k("probe_udp", "probes.udp", "one UDP datagram to a port whose TCP connect timed out",
           **_PROBE_COMMON, ip=("ip", "address"), port=("int", "port")),
        _k("probe_tls", "probes.tls", "a TLS handshake and chain check",
           **_PROBE_COMMON, ip=("ip", "address"), port=("int", "port"),
           sni=("str", "server name sent"), version=("str", "TLS version, or null"),
           subject=("str", "leaf subject"), issuer=("str", "leaf issuer"),
           sans=("list", "subject alternative names"), not_after=("str", "leaf expiry"),
           self_signed=("bool", "leaf is self-signed"),
           name_matches=("bool", "the host matches the certificate's names"),
           chain_length=("int", "certificates presented"),
           trusted_by=("list", "trust stores that verified it"),
           untrusted_by=("list", "trust stores that did not"),
           verify_error=("str", "OpenSSL's verification error against default_store "
                                "(SSL_CERT_FILE/SSL_CERT_DIR from the environment, else "
                                "OpenSSL's defaults), or null"),
           unexpected_issuer=("bool", "issuer looks like an intercepting proxy"),
           via_proxy=("bool", "the handshake went through a proxy tunnel"),
           default_store=("str", "the cafile + capath the outcome was judged with"),
           store_errors=("list", "trust stores that could not be loaded, with why"),
           stores_not_checked=("list", "stores not checked (node's built-in, Java keystores)"),
           interception_hint=("str", "why the issuer looks like an interceptor, or null"),
           checked_at=("str", "this host's clock (UTC) when the chain was checked"),
           not_before=("str", "leaf valid from (UTC), or null"),
           validity=("str", "the leaf against this host's clock: valid, expired, "
                            "not_yet_valid, or null"),
           outside_validity_s=("int", "seconds this host's clock lies outside the leaf's "
                                      "validity (0 inside), or null"),
           verify_code=("int", "OpenSSL's X509_V_ERR code of the failed verification "
                               "(9 not yet valid, 10 expired, 20 issuer not found), or null"),
           chain_subjects=("list", "subject of each certificate the server sent, leaf first"),
           missing_issuer=("str", "issuer of the top certificate sent, found in no store "
                                  "(verify code 20), or null"),
           issuer_url=("str", "that certificate's caIssuers (AIA) URL, or null"),
           chain_incomplete=("bool", "with the issuer fetched from issuer_url the chain "
                                     "verifies: the server omits an intermediate; null: "
                                     "not known"),
           issuer_fetch_error=("str", "why the issuer could not be fetched or used, or null"),
           issuer_in_store=("bool", "the chain stops below a root and names no caIssuers URL: "
                                    "whether a trust store checked holds a certificate named "
                                    "as its top's issuer or with its authority key id; null "
                                    "otherwise"),
           greeting=("str", "first line the port sends unprompted, when it does not speak "
                            "TLS (printable ASCII), or null"),
           greeting_protocol=("str", "the protocol that greeting belongs to (SSH, SMTP...), "
                                     "or null"),
           server_versions=("list", "TLS versions the server completes a handshake with, "
                                    "when the handshake failed (TLSv1...TLSv1.3)"),
           client_min_version=("str", "lowest version a default OpenSSL client offers here, "
                                      "when the handshake failed, or null"),
           client_max_version=("str", "highest version a default OpenSSL client offers "
                                      "here, or null"),
           client_openssl_config=("str", "the OpenSSL configuration file clients here read "
                                         "(OPENSSL_CONF, else the built-in), or null"),
           version_gap=("str", "server_older: every version the server accepts is below "
                               "the client's lowest; server_newer: above its highest; or "
                               "null")),
        _k("probe_proxy", "probes.proxy", "whether and how a target goes through a proxy",
           **_PROBE_COMMON, proxy=("str", "proxy URL without credentials, or null"),
           variable=("str", "which variable chose it, or null"),
           bypassed=("bool", "NO_PROXY matched the target"),
           no_proxy_match=("str", "the NO_PROXY entry that matched, or null"),
           proxy_reachable=("bool", "the proxy answered, or null"),
           connect_status=("int", "HTTP status of CONNECT, or null"),
           caveats=("list", "where curl, Python and Go would decide differently"),
           request_scheme=("str", "the scheme whose proxy variable applies (http/https)"),
           no_proxy_variable=("str", "NO_PROXY or no_proxy: the variable that matched"),
           name_resolved_by=("str", "who resolves the target's name: 'proxy' (HTTP proxies, "
                                    "socks5h://) or 'client' (socks5://: this host); null "
                                    "when no proxy applies"),
           sent_address=("ip", "socks5://: the address this host resolved and sent, or null"),
           other_scheme=("str", "SOCKS5 and a host name: the other resolution tried too "
                                "(socks5h for socks5, and the reverse), or null"),
           other_outcome=("str", "the outcome that way, or null"),
           other_status=("int", "the SOCKS reply code that way, or null")),
        _k("probe_pac", "probes.pac", "where a PAC file's FindProxyForURL sends a target, "
           "against the proxy variables (P2)",
           **_PROBE_COMMON, pac_url=("str", "the PAC file's URL (credentials removed)"),
           pac_source=("str", "--pac, '--pac auto (WPAD)', auto_proxy, AUTO_PROXY, or the "
                              "desktop setting (GNOME, KDE; with a DHCP lease's option 252 "
                              "when it detects) with its file and line or command"),
           result=("str", "FindProxyForURL's answer, e.g. 'PROXY 10.0.0.3:3128; DIRECT', or "
                          "null"),
           pac_proxy=("str", "the proxy of its first entry as a URL, or null (DIRECT)"),
           direct_fallback=("bool", "a later entry of the answer is DIRECT (browsers go "
                                    "direct when the proxies fail), or null"),
           env_proxy=("str", "the proxy the variables choose, or null (direct, NO_PROXY)"),
           env_variable=("str", "the variable that chose it, or null"),
           agrees=("bool", "the PAC and the variables send the target the same way, or null"),
           pac_route_outcome=("str", "when they disagree and the PAC names a proxy: the "
                                     "probe_proxy outcome through that proxy, or null"),
           pac_route_error=("str", "its error, or null")),
        _k("probe_listen", "probes.listen", "whether this user can serve on a port",
           **_PROBE_COMMON, port=("int", "port"), protocol=("str", "tcp"),
           in_use=("bool", "already bound"), holder_pid=("int", "pid holding it, or null"),
           holder_process=("str", "process holding it, or null"),
           privileged=("bool", "below net.ipv4.ip_unprivileged_port_start"),
           unprivileged_port_start=("int", "the sysctl value"),
           is_root=("bool", "whynet runs as root"),
           firewall_blocks=("bool", "an input rule drops/rejects the port, or null"),
           cap_net_bind_service=("bool", "the process holds CAP_NET_BIND_SERVICE"),
           firewall_evidence=("str", "id of the rule or chain fact behind firewall_blocks")),
        _k("probe_http", "probes.http", "an HTTP request to an http(s) URL target",
           **_PROBE_COMMON, ip=("ip", "address"), port=("int", "port"), url=("str", "URL"),
           status=("int", "HTTP status, or null"), reason=("str", "reason phrase"),
           http_version=("str", "HTTP/1.1..."), server=("str", "Server header"),
           location=("str", "Location header"), via=("str", "Via header"),
           via_proxy=("bool", "sent through a proxy"),
           date=("str", "the server's Date header, or null"),
           clock_offset_s=("int", "seconds the server's Date (plus a cache's Age) is ahead "
                                  "of this host's clock (negative: behind), or null"),
           greeting=("str", "first line the server sent when the answer was not HTTP, or "
                            "null"),
           greeting_protocol=("str", "the protocol that greeting belongs to (SSH, SMTP...), "
                                     "or null")),
        _k("history_pattern", "engine.history", "when earlier diagnoses of a target failed: "
           "runs, failures, and whether they cluster by hour of day or weekday (N4)",
           target=("str", "the target as the user wrote it"),
           runs=("int", "earlier live diagnoses of it"), failures=("int", "of them failed"),
           successes=("int", "of them worked"),
           failure_days=("int", "distinct dates with a failure"),
           clustered_by=("str", "hour, weekday, or null (no pattern)"),
           window=("str", "the hours (22:00-06:00) or weekdays the failures fall in, or null"),
           now_in_window=("bool", "this run is inside that window, or null"),
           first_run=("str", "time of the first recorded run"),
           last_run=("str", "time of the latest recorded run")),
        # --- derived from the probes before inference ---------------------------------
        _k("network_path", "engine.layers", "the path to one address of a target, hop by hop "
           "(B3), and which hops no probe could show",
           target=("str", "the target as the user wrote it"),
           ip=("ip", "the target's address on this path, or null (not resolved)"),
           port=("int", "the port really tried, or null (no port)"),
           src=("ip", "source address the kernel picks, or null"),
           interface=("str", "outgoing interface, or null"),
           gateway=("ip", "gateway, or null (on the link, or no route)"),
           next_hop=("ip", "the machine that must answer at the link layer (gateway or the "
                           "address itself), or null"),
           next_hop_answers=("bool", "the next hop answered ARP; null when not asked (IPv6, "
                                     "no link-layer addresses, no privilege)"),
           resolver=("str", "where the name came from (nameservers, hosts file)"),
           proxy=("str", "direct, NO_PROXY: direct, or the proxy used"),
           complete=("bool", "every hop is known"),
           unknown_hops=("list", "hops no probe could show: name, address, source, next hop"),
           first_unknown=("str", "the first of them, or null"),
           text=("str", "the path as drawn in the report")),
        _k("family_split", "engine.families", "a dual-stack target whose connections work "
           "over one address family only (X10): every address of the other family timed out "
           "or met an ICMP error, though this host routes it",
           target=("str", "the target as the user wrote it"), port=("int", "the port tried"),
           broken_family=("int", "4 or 6: the family whose connections all failed"),
           working_family=("int", "4 or 6: the family a connection opened over"),
           broken_ips=("list", "the addresses of the broken family"),
           working_ips=("list", "the addresses that opened"),
           broken_outcome=("str", "timeout or unreachable (both: 'timeout/unreachable')"),
           broken_error=("str", "the error of the slowest failed connection, or null"),
           broken_ms=("int", "how long that connection waited before giving up"),
           icmp=("str", "the ICMP error a broken connection met, or null"),
           icmp_from=("ip", "who sent it, or null"),
           order=("list", "the addresses in the system resolver's order (getaddrinfo, RFC "
                          "6724), the order sequential clients try them in"),
           first_ip=("ip", "the address the system resolver lists first"),
           first_family=("int", "its family: what a client without Happy Eyeballs tries first"),
           broken_first=("bool", "the system resolver lists the broken family first"),
           resolver_order_known=("bool", "the order is the system resolver's (false: the "
                                         "target was an address, or resolution failed)")),
        _k("firewall_verdict", "firewall.verdicts", "what this host's ruleset does with a "
           "probed connection (or a --listen port's first packet), and the rule that decides",
           target=("str", "the probe target, or listen:PORT"),
           direction=("str", "output (this host sends), input (to a local port), forward"),
           family=("int", "4 or 6"), protocol=("str", "tcp or udp"),
           saddr=("ip", "source address, or null (unknown: any client)"),
           ip=("ip", "destination address, or null"), port=("int", "destination port"),
           iif=("str", "input interface, or null"), oif=("str", "output interface, or null"),
           verdict=("str", "accept, drop, reject or unknown (a match whynet does not model)"),
           reject_with=("str", "the reject's type (tcp-reset, icmp-admin-prohibited...), or "
                               "null"),
           description=("str", "one line: 'dropped by rule 12 of chain output in table inet "
                               "filter (handle 37, /etc/nftables.conf line 44)'"),
           packet=("str", "the packet walked, as text"),
           rule=("str", "id of the deciding firewall_rule (or firewall_chain, for a policy)"),
           backend=("str", "nftables, iptables, ip6tables"),
           rule_family=("str", "the deciding rule's table family (ip, ip6, inet...)"),
           table=("str", "its table"), chain=("str", "its chain"),
           position=("int", "its position in the chain, or null for the chain's policy"),
           handle=("int", "its nft handle, or null"),
           rule_text=("str", "the rule as text (or 'policy drop')"),
           policy=("bool", "the chain's policy decided (no rule matched)"),
           file=("str", "the file the rule was loaded from, when found, or null"),
           line=("int", "its line in that file, or null"),
           not_in_file=("str", "the file the rule's chain is loaded from, when that file does "
                               "not have the rule (added by hand, or the file edited and not "
                               "reloaded), or null"),
           unknown=("str", "verdict unknown: the expression not modelled, or null"),
           passed=("list", "rules matched on the way without deciding (counters, logs, "
                           "jumps, accepts of earlier chains)"),
           assumed=("list", "rules that match on a field this packet leaves unknown (a "
                            "client address): they would decide for some values"),
           chains=("list", "base chains walked, in order")),
        _k("firewall_file_drift", "firewall.files", "a chain whose rules in the file differ "
           "from the rules loaded (edited but not reloaded, or changed at run time)",
           file=("str", "the file"), line=("int", "its first line not loaded (or the chain's "
                                                   "first rule line)"),
           backend=("str", "nftables, iptables, ip6tables"), family=("str", "family"),
           table=("str", "table"), chain=("str", "chain"),
           chain_loaded=("bool", "the chain exists in the live ruleset at all"),
           not_loaded=("list", "file rules not in the live ruleset ('line N: text')"),
           not_in_file=("list", "live rules the file does not have"),
           not_loaded_count=("int", "how many file rules are not loaded"),
           not_in_file_count=("int", "how many live rules are not in the file")),
        _k("firewall_file_wide_prefix", "firewall.files", "a prefix in a firewall file with the "
           "network address of a subnet this host is on but a shorter length",
           file=("str", "the file"), line=("int", "line"), text=("str", "the rule line"),
           cidr=("cidr", "the prefix as written"), subnet=("cidr", "the local subnet"),
           interface=("str", "the interface on that subnet"),
           addresses=("int", "addresses the prefix covers"),
           subnet_addresses=("int", "addresses of the subnet")),
    ]
}

# The fields of each kind that can hold a secret (a credential in a URL, ``password=`` in free
# text such as a firewall rule's comment): only these are redacted (engine/redact.py). A kind
# missing here carries text from outside (variables, errors, probed URLs) and is redacted
# whole; so is any field a fact has that its kind does not declare.
SECRET_FIELDS: dict[str, frozenset[str]] = {
    "interface": frozenset(), "address": frozenset(), "route": frozenset(),
    "policy_rule": frozenset(), "neighbor": frozenset(), "hosts_entry": frozenset(),
    "nameserver": frozenset(), "resolver_config": frozenset(), "resolved_config": frozenset(),
    "dns_domain": frozenset(), "listener": frozenset(),
    "sysctl": frozenset(), "conntrack_table": frozenset(), "counter_change": frozenset(),
    "firewall_backend": frozenset(), "firewall_chain": frozenset(),
    # A comment is in the rule's text; options whynet does not decode (a string match) in the
    # text of unparsed and matches.
    "firewall_rule": frozenset({"text", "unparsed", "matches"}),
    "firewalld_zone": frozenset({"rich_rules", "forward_ports"}),
    "credential_source": frozenset(), "trust_store": frozenset(), "cert": frozenset(),
    "proxy_autoconfig": frozenset({"url", "setting"}),
}


def secret_text_fields(kind: str) -> frozenset[str]:
    """The fields of ``kind`` declared able to hold a secret in their text."""
    return SECRET_FIELDS.get(kind, frozenset())


@cache
def fields_without_secrets(kind: str) -> frozenset[str]:
    """The fields of ``kind`` declared unable to hold a secret (empty: redact every field)."""
    secret = SECRET_FIELDS.get(kind)
    spec = KINDS.get(kind)
    if secret is None or spec is None:
        return frozenset()
    return frozenset(spec.fields) - secret


@lru_cache(maxsize=1 << 16)
def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1 << 16)
def _is_cidr(value: str) -> bool:
    if value == "default":
        return True
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _fits_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# One compiled check per field type: each is called once per field of every fact loaded.
_TYPE_CHECKS: dict[str, Callable[[object], bool]] = {
    "any": lambda v: True,
    "ip": lambda v: isinstance(v, str) and _is_ip(v),
    "cidr": lambda v: isinstance(v, str) and _is_cidr(v),
    "int": _fits_int,
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, (list, tuple)),
}


def value_fits(field_type: str, value: object) -> bool:
    """Does ``value`` have the declared type? ``None`` fits every field (unknown / not set)."""
    return value is None or _TYPE_CHECKS[field_type](value)


_EXACT_TYPES: dict[str, frozenset[type]] = {
    "ip": frozenset({str}), "cidr": frozenset({str}), "int": frozenset({int}),
    "str": frozenset({str}), "bool": frozenset({bool}), "list": frozenset({list, tuple}),
    "float": frozenset({float, int}),
}
_EXTRA_CHECKS: dict[str, Callable[[str], bool]] = {"ip": _is_ip, "cidr": _is_cidr}


@cache
def _kind_checks(kind: str) -> dict[str, tuple[frozenset[type], Callable[[str], bool] | None]]:
    """Per field of ``kind``: the exact Python types that fit, and the parse an address needs.
    Built once per kind; ``any`` fields are not checked."""
    return {name: (_EXACT_TYPES[f.type], _EXTRA_CHECKS.get(f.type))
            for name, f in KINDS[kind].fields.items() if f.type != "any"}


@cache
def _address_fields(kind: str) -> tuple[tuple[str, Callable[[str], bool]], ...]:
    return tuple((name, _EXTRA_CHECKS[f.type]) for name, f in KINDS[kind].fields.items()
                 if f.type in _EXTRA_CHECKS)


# (kind, field names, value types) of facts that passed: a fact with the same shape passes
# too once its addresses parse. Facts of one kind from one collector share a few shapes.
_PASSED_SHAPES: set[tuple[object, ...]] = set()
_MAX_SHAPES = 4096


def field_problems(kind: str, fields: Mapping[str, object]) -> list[str]:
    """Fields of a known kind whose values do not have the declared type."""
    if kind not in KINDS:
        return []
    shape = (kind, *fields, *map(type, fields.values()))
    if shape in _PASSED_SHAPES:  # the same field names and types as a fact that passed
        for name, parse in _address_fields(kind):
            value = fields.get(name)
            if value is not None and not parse(value):  # type: ignore[arg-type]
                break
        else:
            return []  # and its addresses parse
    problems = _problems(kind, fields)
    if not problems and len(_PASSED_SHAPES) < _MAX_SHAPES:
        _PASSED_SHAPES.add(shape)
    return problems


def _problems(kind: str, fields: Mapping[str, object]) -> list[str]:
    checks = _kind_checks(kind)
    problems: list[str] = []
    for name, value in fields.items():
        check = checks.get(name)
        if check is None or value is None:
            continue
        exact, parse = check
        if type(value) in exact and (parse is None or parse(value)):  # type: ignore[arg-type]
            continue  # the common case, without a call per field
        field_type = KINDS[kind].fields[name].type
        if not value_fits(field_type, value):  # subclasses, and the real failures
            problems.append(f"field {name!r} should be {field_type}, not {value!r}")
    return problems


LAYERS = ("link", "address", "route", "name", "transport", "tls", "proxy", "application")
SEVERITIES = ("info", "warning", "error")


def known_kind(name: str) -> bool:
    return name in KINDS


def markdown_reference() -> str:
    """The README's fact reference, generated from :data:`KINDS` (kept current by a test)."""
    lines = ["| kind | produced by | fields |", "|---|---|---|"]
    for spec in KINDS.values():
        fields = ", ".join(f"`{name}` ({f.type})" for name, f in spec.fields.items())
        lines.append(f"| `{spec.name}` | {spec.producer} | {spec.description}: {fields} |")
    return "\n".join(lines)
