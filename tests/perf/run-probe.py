#!/usr/bin/env python3
"""Instructions per operation of the hot paths, counted under callgrind.

usage: run-probe.py PROBE CEILINGS [--record | --expect-over OP[,OP...]]

Runs PROBE (tests/perf/probe.c) under `valgrind --tool=callgrind` for every
operation named in CEILINGS and for the empty loop, each at two iteration
counts K1 < K2. (I(K2) - I(K1)) / (K2 - K1) is the loop's cost plus the
operation's, free of setup and warm-up; minus the loop's own figure it is the
operation's. Instruction counts are deterministic for one binary, so nothing
here is timed. Exits 1 naming every operation above its ceiling, 77 (skip)
without valgrind, 0 otherwise, after printing every count.

--record prints the table's lines for the counts measured now (ceiling =
count x 1.3, rounded up), for pasting into CEILINGS after a deliberate change.

--expect-over OP,... is for a planted fault (a probe built to be slower):
only those operations run, and the exit is 0 when every one of them is over
its ceiling, 1 when one is not (the ceilings would miss the fault).
"""
import math
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

K1, K2 = 2000, 52000
MARGIN = 1.3


def fail(msg, code=2):
    print(f"hot-path-instructions: {msg}", file=sys.stderr)
    sys.exit(code)


def read_ceilings(path):
    """{operation: (ceiling, recorded count)} in file order."""
    table = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            words = line.split('#', 1)[0].split()
            if not words:
                continue
            if len(words) != 3:
                fail(f"{path}:{n}: expected 'operation ceiling recorded', got {line.strip()!r}")
            try:
                table[words[0]] = (int(words[1]), float(words[2]))
            except ValueError:
                fail(f"{path}:{n}: ceiling and count must be numbers: {line.strip()!r}")
    if not table:
        fail(f"{path}: no operations")
    return table


def instructions(probe, mode, k):
    """Instructions callgrind counts for one run of the probe."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", probe, mode, str(k)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
    m = re.search(r"^==\d+== Collected : (\d+)$", p.stderr, re.M)
    if not m:
        fail(f"no 'Collected' line from callgrind for {mode}:\n{p.stderr}")
    return int(m.group(1))


def main():
    args = sys.argv[1:]
    record = "--record" in args
    expect_over = None
    if record:
        args.remove("--record")
    elif len(args) == 4 and args[2] == "--expect-over":
        expect_over = args.pop(3).split(",")
        args.pop(2)
    if len(args) != 2:
        fail("usage: run-probe.py PROBE CEILINGS [--record | --expect-over OP[,OP...]]")
    probe, ceilings = args
    if not shutil.which("valgrind"):
        print("hot-path-instructions: valgrind is not installed (Debian: valgrind); skipped")
        sys.exit(77)
    table = read_ceilings(ceilings)
    if expect_over:
        unknown = [m for m in expect_over if m not in table]
        if unknown:
            fail(f"--expect-over: not in {ceilings}: {', '.join(unknown)}")
        table = {m: table[m] for m in expect_over}
    modes = ["loop"] + list(table)
    runs = [(m, k) for m in modes for k in (K1, K2)]
    # Two runs at a time: each is one process, and the counts do not depend on load.
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(runs, pool.map(lambda r: instructions(probe, *r), runs)))
    per_iter = {m: (counts[m, K2] - counts[m, K1]) / (K2 - K1) for m in modes}
    print(f"probe loop alone: {per_iter['loop']:.2f} instructions per iteration "
          f"(K = {K1} and {K2}, subtracted below)")
    over = []
    for m in table:
        ceiling, recorded = table[m]
        n = per_iter[m] - per_iter["loop"]
        verdict = "over the ceiling" if n > ceiling else "ok"
        print(f"{m:15} {n:8.2f} instructions per operation  ceiling {ceiling:5}  "
              f"recorded {recorded:g}  {verdict}")
        if n > ceiling:
            over.append(f"{m}: {n:.2f} instructions per operation, ceiling {ceiling}")
        if record:
            print(f"    record: {m:15} {math.ceil(n * MARGIN):5}  {n:.1f}")
    if expect_over:
        missed = len(table) - len(over)
        if missed:
            print(f"hot-path-instructions: the planted fault left {missed} of {len(table)} "
                  "operations under their ceilings: the ceilings would miss it", file=sys.stderr)
            sys.exit(1)
        print(f"planted fault seen: all {len(table)} operations over their ceilings")
    elif over:
        sys.stdout.flush()
        print("hot-path-instructions: FAILED, a hot path got more expensive:", file=sys.stderr)
        for o in over:
            print(f"  {o}", file=sys.stderr)
        print(f"(counts and ceilings: {os.path.abspath(ceilings)}; run-probe.py --record "
              "prints new lines after a deliberate change)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
