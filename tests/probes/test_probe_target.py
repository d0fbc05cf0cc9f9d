"""Target parsing: every form the user can write, the port and why, and bad input."""

from __future__ import annotations

import pytest

from engine.probes.target import SCHEMES, TargetError, parse_target

GOOD = [
    # text, host, port, port_reason, scheme, is_ip, tls
    ("example.org", "example.org", None, None, None, False, False),
    ("Example.ORG.", "example.org", None, None, None, False, False),
    ("example.org:8080", "example.org", 8080, "explicit", None, False, False),
    ("example.org:443", "example.org", 443, "explicit", None, False, True),
    ("10.0.0.1", "10.0.0.1", None, None, None, True, False),
    ("10.0.0.1:22", "10.0.0.1", 22, "explicit", None, True, False),
    ("[2001:db8::1]:8443", "2001:db8::1", 8443, "explicit", None, True, True),
    ("[2001:db8::1]", "2001:db8::1", None, None, None, True, False),
    ("2001:db8::1", "2001:db8::1", None, None, None, True, False),
    ("::1", "::1", None, None, None, True, False),
    ("https://example.org/p", "example.org", 443, "https default", "https", False, True),
    ("https://example.org:8443/p", "example.org", 8443, "explicit", "https", False, True),
    ("HTTP://Example.org", "example.org", 80, "http default", "http", False, False),
    ("http://example.org:443/", "example.org", 443, "explicit", "http", False, False),
    ("smb://fileserver", "fileserver", 445, "smb default", "smb", False, False),
    ("ssh://git.example.org", "git.example.org", 22, "ssh default", "ssh", False, False),
    ("ftp://h", "h", 21, "ftp default", "ftp", False, False),
    ("ftps://h", "h", 990, "ftps default", "ftps", False, True),
    ("rdp://h", "h", 3389, "rdp default", "rdp", False, False),
    ("postgres://u:p@db.example.org/app", "db.example.org", 5432, "postgres default",
     "postgres", False, False),
    ("postgresql://db", "db", 5432, "postgresql default", "postgresql", False, False),
    ("mysql://db", "db", 3306, "mysql default", "mysql", False, False),
    ("redis://cache", "cache", 6379, "redis default", "redis", False, False),
    ("rediss://cache", "cache", 6380, "rediss default", "rediss", False, True),
    ("mongodb://m", "m", 27017, "mongodb default", "mongodb", False, False),
    ("ldap://dc", "dc", 389, "ldap default", "ldap", False, False),
    ("ldaps://dc", "dc", 636, "ldaps default", "ldaps", False, True),
    ("smtp://mx", "mx", 25, "smtp default", "smtp", False, False),
    ("submission://mx", "mx", 587, "submission default", "submission", False, False),
    ("imap://mx", "mx", 143, "imap default", "imap", False, False),
    ("imaps://mx", "mx", 993, "imaps default", "imaps", False, True),
    ("ws://h", "h", 80, "ws default", "ws", False, False),
    ("wss://h", "h", 443, "wss default", "wss", False, True),
    ("amqp://mq", "mq", 5672, "amqp default", "amqp", False, False),
    ("kafka://k", "k", 9092, "kafka default", "kafka", False, False),
    ("mssql://sql", "sql", 1433, "mssql default", "mssql", False, False),
    ("vnc://desk", "desk", 5900, "vnc default", "vnc", False, False),
    ("telnet://sw1", "sw1", 23, "telnet default", "telnet", False, False),
    ("dns://ns1", "ns1", 53, "dns default", "dns", False, False),
    ("https://[2001:db8::5]/", "2001:db8::5", 443, "https default", "https", True, True),
    # a link-local address needs its link: RFC 6874 writes the zone %25-encoded in a URL
    ("http://[fe80::1%25eth0]:8080/", "fe80::1%eth0", 8080, "explicit", "http", True, False),
    ("[fe80::1%eth0]:22", "fe80::1%eth0", 22, "explicit", None, True, False),
    ("custom://h:1234", "h", 1234, "explicit", "custom", False, False),
    ("user@bastion:2222", "bastion", 2222, "explicit", None, False, False),
    ("bücher.example", "xn--bcher-kva.example", None, None, None, False, False),
]


@pytest.mark.parametrize(("text", "host", "port", "reason", "scheme", "is_ip", "tls"), GOOD)
def test_parses(text: str, host: str, port: int | None, reason: str | None, scheme: str | None,
                is_ip: bool, tls: bool) -> None:
    t = parse_target(text)
    assert (t.host, t.port, t.port_reason, t.scheme, t.is_ip, t.tls) == (
        host, port, reason, scheme, is_ip, tls)


@pytest.mark.parametrize(("text", "expected"), [
    ("https://example.org", "port 443 (https default)"),
    ("smb://nas", "port 445 (smb default)"),
    ("example.org:8443", "port 8443 (explicit)"),
    ("example.org", "no port (name, route and ICMP probes only)"),
])
def test_port_text(text: str, expected: str) -> None:
    assert parse_target(text).port_text == expected


BAD = [
    ("", "empty target"),
    ("   ", "empty target"),
    ("host:0", "out of range"),
    ("host:65536", "out of range"),
    ("https://host:65536/", "out of range"),
    ("https://host:0/", "out of range"),
    ("host:http", "not a number"),
    ("https://host:abc/", "not a number"),
    ("https:///path", "no host"),
    ("https://:443", "no host"),
    ("foo://host", "unknown scheme 'foo' and no port"),
    (":80", "empty host"),
    ("[2001:db8::1", "without a closing"),
    ("[2001:db8::1]x", "unexpected"),
    ("[nonsense]:80", "not an IPv6 address"),
    ("[10.0.0.1]:80", "not an IPv6 address"),
    ("bad host", "not a valid host name"),
    ("-bad.example", "not a valid host name"),
    ("10.0.0.256", "not a valid IPv4 address"),
    ("a" * 64 + ".example", "not a valid host name"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_input_is_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("text", [
    "postgres://admin:s3cr3tpw@db/app", "https://user:s3cr3tpw@h:8443/", "admin:s3cr3tpw@h:22",
])
def test_credentials_never_survive_parsing(text: str) -> None:
    t = parse_target(text)
    assert "s3cr3tpw" not in repr(t)
    assert "***@" in t.raw


def test_a_secret_in_the_query_is_kept_for_the_request_and_hidden_everywhere_else() -> None:
    t = parse_target("https://files.example/get?X-Amz-Signature=abc123def&api_key=s3cr3tkey&n=1")
    assert t.path == "/get?X-Amz-Signature=abc123def&api_key=s3cr3tkey&n=1"  # what is sent
    assert "s3cr3tkey" not in t.raw and "s3cr3tkey" not in t.shown_path
    assert "s3cr3tkey" not in repr(t) and "s3cr3tkey" not in str(t.to_json())
    assert t.raw.endswith("api_key=<redacted>&n=1")
    assert t.shown_path == "/get?X-Amz-Signature=<redacted>&api_key=<redacted>&n=1"
    plain = parse_target("https://h/search?q=routing&page=2")  # nothing secret: kept as is
    assert plain.raw == "https://h/search?q=routing&page=2" and plain.shown_path == plain.path


def test_bad_input_with_credentials_hides_them() -> None:
    with pytest.raises(TargetError) as info:
        parse_target("postgres://admin:s3cr3tpw@db:99999/app")
    assert "s3cr3tpw" not in str(info.value)


def test_the_one_table_has_the_defaults_the_checklist_names() -> None:
    assert {name: SCHEMES[name].port for name in ("https", "smb", "ftp", "ssh", "rdp")} == {
        "https": 443, "smb": 445, "ftp": 21, "ssh": 22, "rdp": 3389}


def test_url_path_and_hostport() -> None:
    t = parse_target("https://[2001:db8::1]:8443/a/b?q=1")
    assert t.path == "/a/b?q=1"
    assert t.hostport == "[2001:db8::1]:8443"
    assert t.family == 6


def test_to_json_for_the_report() -> None:
    data = parse_target("smb://nas").to_json()
    assert data["port"] == 445 and data["port_text"] == "port 445 (smb default)"
    assert data["raw"] == "smb://nas"
