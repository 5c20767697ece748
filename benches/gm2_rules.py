#!/usr/bin/env python3
"""What each GM-2 rule does to a month's hot chart, on the sample data.

For one month it asks `chart-job sql` for the top 100 of the hot chart under GM-1, under
GM-2, and under GM-2 with one rule switched off at a time (by its flags), and prints a
Markdown table: how many of GM-1's top 100 GM-2 keeps, and, per rule, how many of GM-2's
top 100 entries would be different, or at another rank, without it. The transparency
report of a published GM-2 version gives the same per-rule effects from the counts side.

    python3 benches/gm2_rules.py                      # ./sample (chart-job demo's), 2024-12
    python3 benches/gm2_rules.py --data DIR --month 2024-11 --binary target/debug/chart-job
"""

import argparse
import csv
import io
import subprocess
import sys

# The flags that switch each rule off.
RULES_OFF = [
    ("anomaly holds", ["--hold-factor", "1000000000"]),
    ("re-sent plays", ["--resend-window-ms", "0"]),
    ("impossible room-days", ["--overlap-share-percent", "100"]),
    ("venue concentration", ["--concentration-min-venues", "1000000000"]),
    ("minimum reach", ["--min-venues", "1", "--min-cities", "1"]),
]


def top_100(binary, data, month, flags):
    # GM-2's table function also returns the bubbling-under entries after the 100.
    query = f"SELECT song_id, rank FROM hot_chart('{month}', 100) WHERE rank <= 100"
    out = subprocess.run(
        [binary, "sql", "--data", data, "--format", "csv", *flags, "-c", query],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {row["song_id"]: int(row["rank"]) for row in csv.DictReader(io.StringIO(out))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="sample")
    parser.add_argument("--month", default="2024-12")
    parser.add_argument("--binary", default="target/release/chart-job")
    args = parser.parse_args()
    gm2_flags = ["--methodology", "GM-2", "--bootstrap-resamples", "0"]
    gm1 = top_100(args.binary, args.data, args.month, [])
    gm2 = top_100(args.binary, args.data, args.month, gm2_flags)
    kept = len(set(gm1) & set(gm2))
    moved = sum(1 for s in gm2 if s in gm1 and gm1[s] != gm2[s])
    print(f"`python3 benches/gm2_rules.py --data {args.data} --month {args.month}`\n")
    print("| compared with GM-2 | entries not in GM-2's top 100 | entries at another rank |")
    print("|---|---:|---:|")
    print(f"| GM-1 | {100 - kept} | {moved} |")
    for rule, flags in RULES_OFF:
        other = top_100(args.binary, args.data, args.month, gm2_flags + flags)
        out = len(set(other) - set(gm2))
        elsewhere = sum(1 for s in other if s in gm2 and other[s] != gm2[s])
        print(f"| GM-2 without {rule} | {out} | {elsewhere} |")
    print(f"\nGM-1's top 100 kept in GM-2's: {kept}")
    return 0 if kept >= 99 else 1


if __name__ == "__main__":
    sys.exit(main())
