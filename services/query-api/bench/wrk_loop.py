"""The closed loop, driven by wrk (Debian's package, as in the issue's first measurement).

wrk is C on one epoll thread: it takes a small share of the two cores that the contenders and
PostgreSQL share with it. The Python client it replaces (one thread per connection, http.client)
spent about a core at 2,000 req/s, and that core came out of the servers' budget.

The requests are sampled in Python, by each case's own function with a fixed seed, so both
contenders get the same sequence. They are written to a file that wrk's Lua script reads and
cycles through. An answer that is not a 200, or is a GraphQL error in a 200, counts as an error,
as in the Python loops.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

# One line per request: "<method> <target> <hex of the JSON body, if any>".
SCRIPT = r"""
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  prepared, bad, turn = {}, 0, 0
  for line in io.lines(args[1]) do
    local method, target, hex = line:match("^(%S+) (%S+) ?(%x*)$")
    local body = hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
    local headers = {}
    if body == "" then
      body = nil
    else
      headers["Content-Type"] = "application/json"
    end
    table.insert(prepared, wrk.format(method, target, headers, body))
  end
end

function request()
  turn = turn % #prepared + 1
  return prepared[turn]
end

function response(status, headers, body)
  if status ~= 200 or body:sub(1, 10) == '{"errors":' then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "failed": %d, "bad": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, bad))
end
"""
SAMPLES = 50_000  # requests written per run, cycled through


def available() -> bool:
    return shutil.which("wrk") is not None


def run(port: int, make: Callable[[random.Random], tuple[str, str, bytes | None]],
        seconds: float, clients: int) -> dict:  # fmt: skip
    """wrk with ``clients`` keep-alive connections for ``seconds`` against 127.0.0.1:port;
    the summary its script prints (requests, duration_us, p50_us, p99_us, failed, bad)."""
    rng = random.Random(0)  # noqa: S311 - sampling ids, not secrets
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script, requests = Path(tmp, "loop.lua"), Path(tmp, "requests")
        script.write_text(SCRIPT)
        with requests.open("w") as out:
            for _ in range(SAMPLES):
                method, target, body = make(rng)
                out.write(f"{method} {target} {body.hex() if body else ''}".rstrip() + "\n")
        completed = subprocess.run(
            ["wrk", "--threads", "1", "--connections", str(clients), "--duration",
             f"{seconds:g}s", "--timeout", "30s", "--script", str(script),
             f"http://127.0.0.1:{port}", "--", str(requests)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    summary = completed.stdout.strip().splitlines()[-1]
    return json.loads(summary)
