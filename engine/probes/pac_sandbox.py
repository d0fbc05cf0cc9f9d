"""Evaluate a PAC file's ``FindProxyForURL`` in a child process (run by ``probes.pac``).

A PAC file is JavaScript from the network: it is never given to Python's ``eval``. This script
runs it in duktape (the ``dukpy`` package), a JavaScript engine with no file, network or
process access of its own, inside a process of its own that the parent kills when the time is
up, with its address space and CPU time capped here (an endless loop or a memory bomb in the
script costs one killed child, nothing else).

Input (stdin, JSON): ``{"script": TEXT, "queries": [[URL, HOST], ...], "my_ip": IP,
"cpu_seconds": N}``. Output (stdout, JSON): ``{"results": [STRING, ...]}`` (each cut to
:data:`MAX_RESULT` characters) or ``{"error": TEXT}``. Only the standard library and dukpy are
imported, so it runs under ``python -I`` (no environment, no current directory on the path).

The PAC functions (Netscape's set, as browsers and pacparser provide them) are defined in
JavaScript below; ``dnsResolve`` asks this host's resolver (IPv4, as the original API), and
``myIpAddress`` answers the address the parent gives (the source address of this host's
route). The date and time functions use local time, as browsers do.
"""

from __future__ import annotations

import json
import resource
import socket
import sys

MEMORY_LIMIT = 512 * 1024 * 1024
MAX_RESULT = 4096

PAC_FUNCTIONS = r"""
function dnsResolve(host) { return call_python("dnsResolve", String(host)); }
function myIpAddress() { return call_python("myIpAddress"); }
function isPlainHostName(host) { return String(host).indexOf(".") < 0; }
function dnsDomainIs(host, domain) {
  host = String(host); domain = String(domain);
  return host.length >= domain.length &&
         host.substring(host.length - domain.length) == domain;
}
function localHostOrDomainIs(host, hostdom) {
  return host == hostdom || hostdom.lastIndexOf(host + ".", 0) == 0;
}
function isResolvable(host) { return dnsResolve(host) !== null; }
function __ipToInt(ip) {
  var parts = String(ip).split(".");
  if (parts.length != 4) return null;
  var n = 0;
  for (var i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i]) || parts[i] > 255) return null;
    n = n * 256 + Number(parts[i]);
  }
  return n;
}
function isInNet(host, pattern, mask) {
  var address = __ipToInt(host) === null ? dnsResolve(host) : host;
  if (address === null) return false;
  var a = __ipToInt(address), p = __ipToInt(pattern), m = __ipToInt(mask);
  if (a === null || p === null || m === null) return false;
  for (var i = 0; i < 4; i++) {
    var div = Math.pow(256, 3 - i);
    if ((Math.floor(a / div) % 256 & Math.floor(m / div) % 256) !=
        (Math.floor(p / div) % 256 & Math.floor(m / div) % 256)) return false;
  }
  return true;
}
function dnsDomainLevels(host) { return String(host).split(".").length - 1; }
function convert_addr(ip) { return __ipToInt(ip); }
function shExpMatch(str, shexp) {
  var re = String(shexp).replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")
                        .replace(/\?/g, ".");
  return new RegExp("^" + re + "$").test(String(str));
}
var __DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
var __MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                "DEC"];
function __gmt(args) { return args.length > 0 && args[args.length - 1] == "GMT"; }
function weekdayRange(wd1, wd2, gmt) {
  var now = new Date();
  var today = __gmt(arguments) ? now.getUTCDay() : now.getDay();
  var a = __DAYS.indexOf(wd1), b = (wd2 === undefined || wd2 == "GMT") ? a : __DAYS.indexOf(wd2);
  if (a < 0 || b < 0) return false;
  return a <= b ? (a <= today && today <= b) : (today >= a || today <= b);
}
function timeRange() {
  var args = Array.prototype.slice.call(arguments);
  var gmt = __gmt(args);
  if (gmt) args.pop();
  var now = new Date();
  var h = gmt ? now.getUTCHours() : now.getHours();
  var m = gmt ? now.getUTCMinutes() : now.getMinutes();
  var s = gmt ? now.getUTCSeconds() : now.getSeconds();
  var t = h * 3600 + m * 60 + s;
  if (args.length == 1) return h == args[0];
  if (args.length == 2) return args[0] <= h && h < args[1];
  if (args.length == 4) { var a4 = args[0] * 3600 + args[1] * 60, b4 = args[2] * 3600 + args[3] * 60;
                          return a4 <= t && t < b4; }
  if (args.length == 6) { var a6 = args[0] * 3600 + args[1] * 60 + args[2],
                              b6 = args[3] * 3600 + args[4] * 60 + args[5];
                          return a6 <= t && t < b6; }
  return false;
}
function dateRange() {
  var args = Array.prototype.slice.call(arguments);
  var gmt = __gmt(args);
  if (gmt) args.pop();
  var now = new Date();
  var day = gmt ? now.getUTCDate() : now.getDate();
  var month = gmt ? now.getUTCMonth() : now.getMonth();
  var year = gmt ? now.getUTCFullYear() : now.getFullYear();
  function value(x) {
    if (typeof x == "string" && __MONTHS.indexOf(x) >= 0) return ["month", __MONTHS.indexOf(x)];
    if (x > 31) return ["year", Number(x)];
    return ["day", Number(x)];
  }
  function current(kind) { return kind == "month" ? month : kind == "year" ? year : day; }
  if (args.length == 1) { var v = value(args[0]); return current(v[0]) == v[1]; }
  if (args.length == 2) {
    var lo = value(args[0]), hi = value(args[1]);
    if (lo[0] != hi[0]) return false;
    var c = current(lo[0]);
    return lo[1] <= hi[1] ? (lo[1] <= c && c <= hi[1]) : (c >= lo[1] || c <= hi[1]);
  }
  return false;
}
function alert(message) {}
"""


def dns_resolve(host: str) -> str | None:
    try:
        return socket.gethostbyname(host)
    except (OSError, UnicodeError):
        return None


def bare_interpreter():  # type: ignore[no-untyped-def]
    """A dukpy interpreter without the node-like extras its constructor adds (``require``
    reading modules from disk, ``process.env``, ``console``): the script reaches the PAC
    functions and nothing else."""
    import dukpy  # type: ignore[import-untyped]
    from dukpy import _dukpy  # type: ignore[import-untyped]

    class Bare(dukpy.JSInterpreter):  # type: ignore[misc]
        def __init__(self) -> None:
            self._loader = None
            self._ctx = _dukpy.create_context()
            self._funcs: dict[str, object] = {}

    return Bare()


def evaluate(request: dict) -> dict:
    my_ip = str(request.get("my_ip") or "127.0.0.1")
    interpreter = bare_interpreter()
    interpreter.export_function("dnsResolve", dns_resolve)
    interpreter.export_function("myIpAddress", lambda: my_ip)
    interpreter.evaljs(PAC_FUNCTIONS + "\n" + str(request["script"]))
    if not interpreter.evaljs("typeof FindProxyForURL == 'function'"):
        return {"error": "the PAC file defines no FindProxyForURL function"}
    results = []
    for url, host in request["queries"]:
        answer = interpreter.evaljs("String(FindProxyForURL(dukpy.url, dukpy.host))",
                                    url=str(url), host=str(host))
        results.append(str(answer)[:MAX_RESULT])
    return {"results": results}


def main() -> int:
    request = json.load(sys.stdin)
    cpu = max(1, int(request.get("cpu_seconds") or 5))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    try:
        answer = evaluate(request)
    except Exception as exc:  # noqa: BLE001 - any script error is an answer, not a crash
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        answer = {"error": f"the PAC script failed: {first[:300]}"}
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
