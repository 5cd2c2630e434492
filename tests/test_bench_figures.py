"""What the load benchmark reads off wrk's report (its bars are decided from these figures)."""

from __future__ import annotations

from quietday.bench import _ms, _wrk_figures

REPORT = """Running 1m test @ http://127.0.0.1:41234
  2 threads and 196 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    95.10ms  110.21ms   1.20s    88.52%
    Req/Sec   162.30     40.12   280.00     70.00%
  Latency Distribution
     50%   78.22ms
     75%  120.00ms
     90%  210.00ms
     99%    1.02s
  19393 requests in 1.00m, 95.12MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:    322.75
Transfer/sec:      1.58MB
"""


def test_latencies_in_milliseconds() -> None:
    assert _ms("850.00us") == 0.85
    assert _ms("78.22ms") == 78.22
    assert _ms("1.02s") == 1020.0
    assert _ms("") is None


def test_a_wrk_report_read_whole() -> None:
    assert _wrk_figures(REPORT) == {
        "requests": 19393,
        "requests_per_second": 322.75,
        "p50_ms": 78.22,
        "p99_ms": 1020.0,
        "non_2xx_3xx": 7,
        "socket_errors": 5,
    }
