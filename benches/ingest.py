#!/usr/bin/env python3
"""Ingestion benchmark: `chart-job serve` under `wrk` on loopback, fsync on.

    python3 benches/ingest.py                       # release build, 15 s per configuration
    python3 benches/ingest.py --smoke --chart-job target/debug/chart-job   # seconds: checks it runs
    python3 benches/ingest.py --live                # with the live month on and off, side by side

For 1, 16 and 64 concurrent connections (each request sent as one of as many vendors)
and batches of 1, 100 and 1,000 plays, a fresh service (its write-ahead log and data
root under --work) takes NDJSON batches from wrk for --duration seconds: every play is
validated, synced to the log before the reply and landed as Parquet. Reported: accepted
plays/s (from the service's own metrics), requests/s, p50 and p99 latency (wrk), the
service's CPU (user + system, /proc) and peak RSS (VmHWM), and the share of non-200
replies. Also measured on the same disk: the latency of one 4 KiB write + fdatasync,
which bounds the rate of group commits.

Unless --smoke, writes the table with the machine and the command to docs/PERFORMANCE.md.
Needs `wrk` (Debian: apt-get install wrk).
"""

import argparse
import hashlib
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONCURRENCY = [1, 16, 64]
BATCHES = [1, 100, 1000]
START = "<!-- ingest.py -->"
END = "<!-- end ingest.py -->"

LUA = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local tokens = {%(tokens)s}
local body = io.open("%(body)s"):read("*a")
local n = 0
local run = "%(run)s"
request = function()
  n = n + 1
  local token = tokens[(n %% #tokens) + 1]
  return wrk.format("POST", "/v1/plays", {
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = run .. "-" .. tostring(id) .. "-" .. tostring(n),
    ["Content-Type"] = "application/x-ndjson",
  }, body)
end
"""


def fsync_latency(directory):
    """Median and p99 of one 4 KiB append + fdatasync, milliseconds."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    samples = []
    try:
        for _ in range(200):
            start = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fdatasync(fd)
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def cpu_seconds(pid):
    fields = (pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]).split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def metric_sum(url, name):
    import urllib.request

    text = urllib.request.urlopen(f"{url}/metrics").read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def wrk_seconds(text):
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not match:
        sys.exit(f"error: unreadable wrk latency `{text}`")
    value, unit = match.groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wait_for_quiet(url, ready, what):
    """Waits until every play has landed, the live month is not being built, a refresh
    holding them is served, and `ready(metric)` holds."""
    waited = time.monotonic()
    while (metric_sum(url, "ingest_wal_unlanded_bytes") > 0 or metric_sum(url, "ingest_live_unpublished") > 0
           or metric_sum(url, "ingest_live_building") > 0 or not ready(lambda name: metric_sum(url, name))):
        if time.monotonic() - waited > 300:
            sys.exit(f"error: {what}: the live month did not catch up in 300 s")
        time.sleep(0.2)
    return time.monotonic() - waited


def warm_up(url, body, token):
    """One batch of this month's plays, landed and built into the live month (the first
    play of a month makes it build from the files), so that the load meets a live month."""
    import urllib.request

    request = urllib.request.Request(f"{url}/v1/plays", data=body.read_bytes(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Idempotency-Key": "warm-up", "Content-Type": "application/x-ndjson"})
    urllib.request.urlopen(request).read()
    # Built at start (the sample's latest month), then for this month's plays.
    wait_for_quiet(url, lambda m: m("ingest_live_builds_total") >= 2 and m("ingest_live_refreshes_total") > 0,
                   "warming up")


def run_one(args, work, concurrency, batch, tokens, live=None):
    """One configuration; `live` None: the service's defaults on an empty data root,
    False: `--no-live`, True: the live month on over a copy of the generated sample."""
    case = work / f"c{concurrency}-b{batch}"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    if live:
        shutil.copytree(work / "sample", case / "data")
    now_ms = int(time.time() * 1000) - 3_600_000
    # Ids of the generated sample's registers (the live month counts them as it would
    # a vendor's plays).
    lines = [json.dumps({"event_id": f"e{i:06d}", "venue_id": f"V{1 + i % 997:06d}", "room_id": f"R{1 + i % 4:02d}",
                         "song_id": f"S{1 + i % 5000:07d}", "started_at": now_ms + i, "played_ms": 180000})
             for i in range(batch)]
    (case / "body.ndjson").write_text("\n".join(lines) + "\n")
    (case / "bench.lua").write_text(LUA % {
        "tokens": ", ".join(f'"{t}"' for t in tokens[:concurrency]),
        "body": case / "body.ndjson",
        "run": f"c{concurrency}b{batch}",
    })
    server = subprocess.Popen(
        [args.chart_job, "serve", "--data", case / "data", "--wal", case / "wal", "--listen", "127.0.0.1:0",
         "--vendors", work / "vendors.toml", "--max-unlanded", "4G"] + (["--no-live"] if live is False else []),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"}, text=True)
    try:
        url = server.stdout.readline().strip().removeprefix("listening on ")
        if live:
            warm_up(url, case / "body.ndjson", tokens[0])
        cpu_before = cpu_seconds(server.pid)
        threads = min(2, concurrency)
        result = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{args.duration}s", "--latency",
             "-s", case / "bench.lua", url], capture_output=True, text=True, check=True).stdout
        cpu = cpu_seconds(server.pid) - cpu_before
        accepted = metric_sum(url, "ingest_plays_accepted_total")
        statuses = {}
        import urllib.request

        for line in urllib.request.urlopen(f"{url}/metrics").read().decode().splitlines():
            m = re.match(r'ingest_requests_total\{status="(\d+)"\} (\d+)', line)
            if m:
                statuses[m.group(1)] = int(m.group(2))
        rss = peak_rss_mib(server.pid)
        caught_up = live_refresh_s = None
        if live:
            # The live month catches up: every play landed (every 10 s) and counted, and a
            # refresh served that holds them.
            caught_up = wait_for_quiet(url, lambda m: m("ingest_live_counted_rows_total") > 0, f"c{concurrency} b{batch}")
            live_refresh_s = metric_sum(url, "ingest_live_refresh_seconds")
        live_refreshes = metric_sum(url, "ingest_live_refreshes_total") if live else 0
        live_rows = metric_sum(url, "ingest_live_counted_rows_total") if live else 0
    except BaseException:
        server.kill()  # a failed run leaves no service behind
        server.wait()
        raise
    server.send_signal(signal.SIGTERM)
    if server.wait(timeout=300) != 0:
        sys.exit(f"error: serve exited {server.returncode} after SIGTERM")
    landed = sum(1 for _ in (case / "data" / "plays").rglob("*.parquet")) if (case / "data" / "plays").exists() else 0
    requests = float(re.search(r"Requests/sec:\s+([\d.]+)", result).group(1))
    percentiles = re.search(r"Latency Distribution.*?50%\s+(\S+).*?99%\s+(\S+)", result, re.S)
    if not percentiles:
        sys.exit(f"error: c{concurrency} b{batch}: no latency distribution in wrk's output:\n{result}")
    p50, p99 = (wrk_seconds(p) for p in percentiles.groups())
    total = sum(statuses.values()) or 1
    refused = 1 - statuses.get("200", 0) / total
    if statuses.get("200", 0) and not landed:
        sys.exit(f"error: c{concurrency} b{batch}: plays were accepted but no file landed")
    shutil.rmtree(case, ignore_errors=True)
    return {
        "concurrency": concurrency, "batch": batch, "plays_per_s": accepted / args.duration,
        "requests_per_s": requests, "p50_ms": p50 * 1000, "p99_ms": p99 * 1000,
        "cpu_s": cpu, "rss_mib": rss, "refused": refused, "statuses": statuses, "live": live,
        "live_refreshes": live_refreshes, "live_rows": live_rows, "caught_up_s": caught_up,
        "live_refresh_s": live_refresh_s,
    }


def table(results):
    rows = ["| vendors | batch | accepted plays/s | requests/s | p50 (ms) | p99 (ms) | service CPU (s) | peak RSS (MiB) | not 200 |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rows.append(f"| {r['concurrency']} | {r['batch']:,} | {r['plays_per_s']:,.0f} | {r['requests_per_s']:,.0f} | "
                    f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['cpu_s']:.1f} | {r['rss_mib']:.0f} | {r['refused']:.1%} |")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chart-job", type=pathlib.Path, help="binary to run (default: build release)")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per configuration")
    parser.add_argument("--work", type=pathlib.Path, default=ROOT / "target/bench-ingest")
    parser.add_argument("--smoke", action="store_true", help="2 s per configuration, no docs")
    parser.add_argument("--live", action="store_true",
                        help="compare --no-live with the live month on (over the generated sample), "
                             "in pairs, for batches of 100 and 1,000")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed (Debian: apt-get install wrk)")
    if args.smoke:
        args.duration = 2
    if args.chart_job is None:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "chart-job"], cwd=ROOT, check=True)
        args.chart_job = ROOT / "target/release/chart-job"
    args.work.mkdir(parents=True, exist_ok=True)
    tokens = [f"bench-token-{i:02d}-{'x' * 16}" for i in range(max(CONCURRENCY))]
    (args.work / "vendors.toml").write_text("".join(
        f'[[vendor]]\nname = "vendor-{i:02d}"\ntoken_sha256 = "{hashlib.sha256(t.encode()).hexdigest()}"\n'
        for i, t in enumerate(tokens)))
    fsync_p50, fsync_p99 = fsync_latency(args.work)
    if args.live:
        return compare_live(args, tokens, fsync_p50, fsync_p99)
    results = []
    for concurrency in CONCURRENCY:
        for batch in BATCHES:
            r = run_one(args, args.work, concurrency, batch, tokens)
            print(f"vendors {concurrency:>2}, batch {batch:>4}: {r['plays_per_s']:>10,.0f} plays/s, "
                  f"{r['requests_per_s']:>8,.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                  f"CPU {r['cpu_s']:.1f} s, RSS {r['rss_mib']:.0f} MiB, statuses {r['statuses']}", flush=True)
            results.append(r)
    text = table(results)
    print(text)
    print(f"fsync of 4 KiB on this disk: p50 {fsync_p50:.2f} ms, p99 {fsync_p99:.2f} ms")
    if args.smoke:
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    section = (f"{START}\n### Ingestion (`chart-job serve`, loopback, fsync on)\n\n"
               f"`python3 benches/ingest.py --duration {args.duration}` at commit {commit}, {time.strftime('%Y-%m-%d')}: "
               f"{os.cpu_count()} × {cpu}, Linux {platform.release()}; wrk on the same 2 cores as the service. "
               f"One 4 KiB write + fdatasync on this disk: p50 {fsync_p50:.2f} ms, p99 {fsync_p99:.2f} ms.\n\n"
               f"{text}\n{END}")
    write_section(START, END, section)


def write_section(start, end, section):
    doc = ROOT / "docs/PERFORMANCE.md"
    current = doc.read_text()
    if start in current:
        before, rest = current.split(start, 1)
        current = before + section + rest.split(end, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + section + "\n"
    doc.write_text(current)


LIVE_START = "<!-- ingest.py --live -->"
LIVE_END = "<!-- end ingest.py --live -->"


def compare_live(args, tokens, fsync_p50, fsync_p99):
    """Each configuration without and with the live month, one after the other."""
    sample = args.work / "sample"
    shutil.rmtree(sample, ignore_errors=True)
    subprocess.run([args.chart_job, "generate", "--out", sample, "--plays-per-month", "1000"],
                   check=True, capture_output=True)
    rows = ["| vendors | batch | live month | accepted plays/s | p50 (ms) | p99 (ms) | service CPU (s) "
            "| peak RSS (MiB) | rows counted live | caught up after (s) | last refresh (ms) | with / without |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for concurrency, batch in [(16, 100), (16, 1000), (64, 1000)]:
        pair = []
        for live in (False, True):
            r = run_one(args, args.work, concurrency, batch, tokens, live=live)
            print(f"vendors {concurrency:>2}, batch {batch:>4}, live {live}: {r['plays_per_s']:>10,.0f} plays/s, "
                  f"p99 {r['p99_ms']:.1f} ms, CPU {r['cpu_s']:.1f} s, RSS {r['rss_mib']:.0f} MiB, "
                  f"counted live {r['live_rows']:,.0f}, refreshes {r['live_refreshes']:.0f}", flush=True)
            if live and r["live_rows"] == 0:
                sys.exit("error: the live month counted no play")
            pair.append(r)
        ratio = pair[1]["plays_per_s"] / max(pair[0]["plays_per_s"], 1)
        for r in pair:
            rows.append(f"| {concurrency} | {batch:,} | {'on' if r['live'] else 'off'} | {r['plays_per_s']:,.0f} | "
                        f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['cpu_s']:.1f} | {r['rss_mib']:.0f} | "
                        + (f"{r['live_rows']:,.0f} | {r['caught_up_s']:.1f} | {r['live_refresh_s'] * 1000:.1f} | {ratio:.2f}× |"
                           if r["live"] else "| | | |"))
    text = "\n".join(rows)
    print(text)
    if args.smoke:
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    section = (f"{LIVE_START}\n`python3 benches/ingest.py --live --duration {args.duration}` at commit {commit}, "
               f"{time.strftime('%Y-%m-%d')}, the same machine (fsync p50 {fsync_p50:.2f} ms):\n\n{text}\n{LIVE_END}")
    write_section(LIVE_START, LIVE_END, section)


if __name__ == "__main__":
    main()
