"""Keep one capture of each distinct machine state (see README.md).

usage: python3 pick_distinct.py CAPTUREDIR DATADIR

CAPTUREDIR is the output of capture-all.sh. Two captures are the same state
when their `info mtree -D` and `info mtree -f` dumps hold the same blocks
(QEMU prints blocks in a hash-table order that changes from run to run, and
numbers flat views in that order, so blocks are compared as sets and the
`FlatView #N` lines are ignored). The first capture of each state in
all.tsv order is copied to DATADIR with its three dumps and listed in
DATADIR/configs.tsv; the others go to DATADIR/duplicates.tsv (name, kept
capture) and the attempts that failed to DATADIR/failed.tsv (name, reason).
"""
import hashlib, os, shutil, sys


def blocks(text, flat):
    out = []
    for b in text.split("\n\n"):
        lines = [l for l in b.split("\n") if l and not (flat and l.startswith("FlatView #"))]
        if lines:
            out.append("\n".join(lines))
    return sorted(out)


def key(prefix):
    h = hashlib.sha256()
    for suffix, flat in (("mtree-D", False), ("flat", True)):
        with open("%s.%s.txt" % (prefix, suffix)) as fh:
            for b in blocks(fh.read(), flat):
                h.update(b.encode() + b"\0")
        h.update(b"\1")
    return h.hexdigest()


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    status = {}
    with open(os.path.join(src, "results.txt")) as fh:
        for line in fh:
            parts = line.rstrip("\n").split(" ", 2)
            if len(parts) >= 2 and parts[0] in ("ok", "FAIL"):
                name = os.path.basename(parts[1])
                status[name] = (parts[0], parts[2] if len(parts) > 2 else "")
    seen, kept, dups, failed = {}, [], [], []
    with open(os.path.join(src, "all.tsv")) as fh:
        rows = [l.rstrip("\n").split("\t") for l in fh][1:]
    skip = ("_mps2-an505_", "_mps2-an521_", "_mps3-an547_", "_musca-b1_")
    for name, secs, cmd in rows:
        if any(k in name for k in skip):
            continue  # issue 9 section 1 captures these four SSE boards
        st, why = status.get(name, ("FAIL", "no result (timed out)"))
        if st != "ok":
            failed.append((name, why))
            continue
        k = key(os.path.join(src, name))
        if k in seen:
            dups.append((name, seen[k]))
            continue
        seen[k] = name
        kept.append((name, secs, cmd))
        for suffix in ("mtree", "mtree-D", "flat"):
            shutil.copyfile(os.path.join(src, "%s.%s.txt" % (name, suffix)),
                            os.path.join(dst, "%s.%s.txt" % (name, suffix)))
    with open(os.path.join(dst, "configs.tsv"), "w") as fh:
        fh.write("name\trun_seconds\tcommand\n")
        for r in kept:
            fh.write("\t".join(r) + "\n")
    with open(os.path.join(dst, "duplicates.tsv"), "w") as fh:
        fh.write("name\tsame_state_as\n")
        for r in dups:
            fh.write("\t".join(r) + "\n")
    with open(os.path.join(dst, "failed.tsv"), "w") as fh:
        fh.write("name\treason\n")
        for r in failed:
            fh.write("\t".join(r) + "\n")
    print("%d kept, %d duplicates, %d failed" % (len(kept), len(dups), len(failed)))


if __name__ == "__main__":
    main()
