"""The closed set of probe outcomes, each with a one-line meaning.

Every ``probe_*`` fact carries one of these in its ``outcome`` field; rules match on them and the
README lists them from :data:`MEANINGS`. Add a new outcome here (with its meaning) or not at all.
"""

from __future__ import annotations

# --- shared by several probes ---------------------------------------------------------------
TIMEOUT = "timeout"
ERROR = "error"
NOT_POSSIBLE = "not_possible"

# --- probe_target ---------------------------------------------------------------------------
PARSED = "parsed"

# --- probe_resolve --------------------------------------------------------------------------
RESOLVED = "resolved"
NXDOMAIN = "nxdomain"
NO_ANSWER = "no_answer"
SERVFAIL = "servfail"
REFUSED = "refused"  # also probe_tcp
TEMPORARY_FAILURE = "temporary_failure"

# --- probe_route ----------------------------------------------------------------------------
ROUTED = "routed"
NO_ROUTE = "no_route"  # also probe_tcp

# --- probe_icmp -----------------------------------------------------------------------------
REPLY = "reply"
UNREACHABLE = "unreachable"  # also probe_tcp, probe_resolve

# --- probe_tcp ------------------------------------------------------------------------------
OPEN = "open"

# --- probe_tls ------------------------------------------------------------------------------
TLS_OK = "tls_ok"
TLS_UNTRUSTED = "tls_untrusted"
TLS_NAME_MISMATCH = "tls_name_mismatch"
NOT_TLS = "not_tls"

# --- probe_proxy ----------------------------------------------------------------------------
DIRECT = "direct"
BYPASSED = "bypassed"
PROXIED_OK = "proxied_ok"
PROXY_DEAD = "proxy_dead"
PROXY_REFUSED = "proxy_refused"
PROXY_UPSTREAM_ERROR = "proxy_upstream_error"
LOCAL_NAME_FAILED = "local_name_failed"

# --- probe_pac ------------------------------------------------------------------------------
PAC_PROXY = "pac_proxy"
PAC_DIRECT = "pac_direct"

# --- probe_http -----------------------------------------------------------------------------
HTTP_OK = "http_ok"
HTTP_ERROR = "http_error"
NOT_HTTP = "not_http"

# --- probe_pmtu -----------------------------------------------------------------------------
BLACK_HOLE = "black_hole"
INCONCLUSIVE = "inconclusive"

# --- probe_arp ------------------------------------------------------------------------------
SINGLE = "single"
DUPLICATE = "duplicate"
UNIQUE = "unique"
MAPPED = "mapped"

# --- probe_portal ---------------------------------------------------------------------------
KNOWN_ANSWER = "known_answer"
INTERCEPTED = "intercepted"

# --- probe_dns_transport --------------------------------------------------------------------
ANSWERED = "answered"

# --- probe_listen ---------------------------------------------------------------------------
CAN_LISTEN = "can_listen"
IN_USE = "in_use"
PRIVILEGED = "privileged"

MEANINGS: dict[str, str] = {
    TIMEOUT: "no answer within the timeout: a silent drop (firewall), a dead host or a slow path",
    ERROR: "the probe failed for another reason; the fact's error field says which",
    NOT_POSSIBLE: "the probe cannot run here (missing privilege or tool); error says why",
    PARSED: "the target was understood (host, port and why that port)",
    RESOLVED: "the name resolved to at least one address",
    NXDOMAIN: "the name does not exist (NXDOMAIN, or 'Name or service not known')",
    NO_ANSWER: "the name exists but has no address of the asked type (NOERROR/NODATA)",
    SERVFAIL: "the DNS server failed to answer (SERVFAIL): upstream or DNSSEC trouble",
    REFUSED: "actively refused: a TCP RST or ICMP port-unreachable, or a DNS server's REFUSED",
    TEMPORARY_FAILURE: "the system resolver gave up for now (EAI_AGAIN): no server answered",
    ROUTED: "the kernel has a route for the address (gateway, interface, source, table)",
    NO_ROUTE: "no usable route: none at all, or an unreachable/prohibit/blackhole route",
    REPLY: "an ICMP echo reply came back (says nothing about TCP ports)",
    UNREACHABLE: "an ICMP error (host/net unreachable, prohibited) or a local block came back",
    OPEN: "the TCP handshake completed: something listens and nothing blocks the port",
    TLS_OK: "the handshake completed and the chain verifies with the name, default store",
    TLS_UNTRUSTED: "the chain does not verify against the default trust store",
    TLS_NAME_MISMATCH: "the chain is trusted but the certificate is not valid for the name",
    NOT_TLS: "the port answered, but not with TLS (plain HTTP on a TLS port, for example)",
    BLACK_HOLE: "small segments pass and full-size ones vanish: a path-MTU black hole (the "
                "handshake or the answer arrives only with a clamped MSS)",
    INCONCLUSIVE: "the check ran but cannot tell: the answer was too small to need full-size "
                  "segments; error says why",
    DIRECT: "no proxy variable applies to this target: it connects directly",
    BYPASSED: "a proxy is configured but a NO_PROXY entry sends this target direct",
    PROXIED_OK: "the target goes through a proxy, which accepted the request (2xx)",
    PROXY_DEAD: "the target goes through a proxy that cannot be reached (refused, unreachable)",
    PROXY_REFUSED: "the proxy answered but refused (403 forbidden, 407 auth required, ...)",
    PROXY_UPSTREAM_ERROR: "the proxy could not reach the target itself (502, 503, 504)",
    LOCAL_NAME_FAILED: "a socks5:// proxy has this host resolve the target's name, and it does "
                       "not resolve here (socks5h:// would let the proxy resolve it)",
    PAC_PROXY: "the PAC file's FindProxyForURL sends the target through a proxy",
    PAC_DIRECT: "the PAC file's FindProxyForURL sends the target direct",
    HTTP_OK: "the server answered HTTP with a status below 400",
    HTTP_ERROR: "the server answered HTTP with a status of 400 or more",
    NOT_HTTP: "the server answered, but not with HTTP",
    SINGLE: "exactly one machine answered ARP for the next hop",
    DUPLICATE: "several machines (MACs) answered ARP for one address, or another machine "
               "answered for this host's own address: a duplicate IP",
    UNIQUE: "nobody else answered an ARP probe for this host's own address",
    MAPPED: "a STUN server answered with the public address and port it saw",
    KNOWN_ANSWER: "a known-answer URL gave the answer it always gives: no captive portal",
    INTERCEPTED: "a known-answer URL gave another answer (a redirect, a login page): a "
                 "captive portal or another interceptor answers instead",
    ANSWERED: "a DNS server answered over the transport tried (plain, TLS), whatever its "
              "response code",
    CAN_LISTEN: "this user can bind the port on all addresses now",
    IN_USE: "the port is already bound by another socket",
    PRIVILEGED: "the port is below net.ipv4.ip_unprivileged_port_start and this user may not "
                "bind it",
}

# Which outcomes each probe kind can give (checked by the tests).
BY_KIND: dict[str, frozenset[str]] = {
    "probe_target": frozenset({PARSED}),
    "probe_resolve": frozenset({RESOLVED, NXDOMAIN, NO_ANSWER, SERVFAIL, REFUSED, UNREACHABLE,
                                TEMPORARY_FAILURE, TIMEOUT, ERROR}),
    "probe_route": frozenset({ROUTED, NO_ROUTE, ERROR}),
    "probe_icmp": frozenset({REPLY, TIMEOUT, UNREACHABLE, NOT_POSSIBLE, ERROR}),
    "probe_tcp": frozenset({OPEN, REFUSED, TIMEOUT, UNREACHABLE, NO_ROUTE, ERROR}),
    "probe_tls": frozenset({TLS_OK, TLS_UNTRUSTED, TLS_NAME_MISMATCH, NOT_TLS, TIMEOUT, ERROR}),
    "probe_proxy": frozenset({DIRECT, BYPASSED, PROXIED_OK, PROXY_DEAD, PROXY_REFUSED,
                              PROXY_UPSTREAM_ERROR, LOCAL_NAME_FAILED, TIMEOUT, ERROR}),
    "probe_http": frozenset({HTTP_OK, HTTP_ERROR, NOT_HTTP, REFUSED, TIMEOUT, ERROR}),
    "probe_pac": frozenset({PAC_PROXY, PAC_DIRECT, TIMEOUT, ERROR}),
    "probe_listen": frozenset({CAN_LISTEN, IN_USE, PRIVILEGED, ERROR}),
    "probe_udp": frozenset({REPLY, REFUSED, TIMEOUT, ERROR}),
    "probe_arp": frozenset({SINGLE, DUPLICATE, NO_ANSWER, NOT_POSSIBLE, ERROR}),
    "probe_dad": frozenset({UNIQUE, DUPLICATE, NOT_POSSIBLE, ERROR}),
    "probe_stun": frozenset({MAPPED, TIMEOUT, ERROR}),
    "probe_nxdomain": frozenset({RESOLVED, NXDOMAIN, NO_ANSWER, SERVFAIL, REFUSED, UNREACHABLE,
                                 TIMEOUT, ERROR}),
    "probe_portal": frozenset({KNOWN_ANSWER, INTERCEPTED, NXDOMAIN, TEMPORARY_FAILURE, REFUSED,
                               TIMEOUT, NOT_HTTP, ERROR}),
    "probe_dns_transport": frozenset({ANSWERED, TIMEOUT, REFUSED, UNREACHABLE, NOT_TLS, ERROR}),
    "probe_path_quality": frozenset({REPLY, TIMEOUT, UNREACHABLE, NOT_POSSIBLE, ERROR}),
    "probe_pmtu": frozenset({BLACK_HOLE, TLS_OK, HTTP_OK, INCONCLUSIVE, NOT_POSSIBLE, TIMEOUT,
                             ERROR}),
}

# The outcomes that are not a failure of what each probe checks. Every other outcome of BY_KIND
# is a failure, and some rule must read it at warning or above (the floor is
# knowledge/floor.yaml; tests/engine/test_outcome_coverage.py checks each kind and outcome).
PASSING: dict[str, frozenset[str]] = {
    "probe_target": frozenset({PARSED}),
    "probe_resolve": frozenset({RESOLVED}),
    "probe_route": frozenset({ROUTED}),
    "probe_icmp": frozenset({REPLY, NOT_POSSIBLE}),
    "probe_tcp": frozenset({OPEN}),
    "probe_tls": frozenset({TLS_OK}),
    "probe_proxy": frozenset({DIRECT, BYPASSED, PROXIED_OK}),
    "probe_http": frozenset({HTTP_OK}),
    "probe_pac": frozenset({PAC_PROXY, PAC_DIRECT}),
    "probe_listen": frozenset({CAN_LISTEN}),
    # UDP has no handshake: an answer, a port-unreachable or silence only tell where a TCP
    # failure lies (the probe is sent only after one); it fails when it cannot send at all.
    "probe_udp": frozenset({REPLY, REFUSED, TIMEOUT}),
    "probe_arp": frozenset({SINGLE, NOT_POSSIBLE}),
    "probe_dad": frozenset({UNIQUE, NOT_POSSIBLE}),
    # No STUN answer is common (UDP to a public server filtered) and says nothing about the
    # targets: nat.stun-unanswered reports it as context.
    "probe_stun": frozenset({MAPPED, TIMEOUT}),
    # A name that cannot exist must not resolve; a silent or failing server is the concern of
    # the per-target name probes (name.nameserver-not-answering), not of this one.
    "probe_nxdomain": frozenset({NXDOMAIN, NO_ANSWER, SERVFAIL, REFUSED, UNREACHABLE, TIMEOUT,
                                 ERROR}),
    "probe_portal": frozenset({KNOWN_ANSWER}),
    "probe_dns_transport": frozenset({ANSWERED}),
    # The echo train measures how well a path that answers carries packets (its figures are
    # the rules' business); whether ICMP passes at all is the single ping's (probe_icmp), and
    # so is an ICMP error (``unreachable``: no train is sent into a path that has none).
    "probe_path_quality": frozenset({REPLY, TIMEOUT, UNREACHABLE, NOT_POSSIBLE, ERROR}),
    # Asks whether the segment size is to blame for a stall (after a TLS handshake stalled,
    # or alongside an http:// GET): anything but a black hole leaves a stall to the TLS and
    # HTTP rules (tls.handshake-no-answer, ...); a check that could not tell or not run is
    # no failure of the path.
    "probe_pmtu": frozenset({TLS_OK, HTTP_OK, INCONCLUSIVE, NOT_POSSIBLE, TIMEOUT, ERROR}),
}
