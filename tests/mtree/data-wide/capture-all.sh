#!/bin/sh
# Capture every machine type of every installed qemu-system-* binary, at reset
# and after RUN_SECONDS of `cont` (see README.md). Usage: capture-all.sh OUTDIR
# Writes OUTDIR/NAME.{mtree,mtree-D,flat}.txt, OUTDIR/all.tsv (every attempt)
# and OUTDIR/results.txt (one line per attempt: ok or FAIL with the reason).
# Captures whose files exist already are not taken again (resume).
set -eu
out=$1
here=$(cd "$(dirname "$0")" && pwd)
RUN_SECONDS=${RUN_SECONDS:-3}
mkdir -p "$out"
CAPTURE_OUT=$(cd "$out" && pwd)
export CAPTURE_OUT
printf 'name\trun_seconds\tcommand\n' > "$out/all.tsv"
for bin in /usr/bin/qemu-system-*; do
  arch=${bin#/usr/bin/qemu-system-}
  arch=$(echo "$arch" | tr '-' '_')
  "$bin" -M help | tail -n +2 | grep -v '(alias of' | awk '{print $1}' |
  while read -r m; do
    # The four Arm SSE boards of issue 9 section 1 live with that work's data.
    case "$m" in mps2-an505|mps2-an521|mps3-an547|musca-b1) continue ;; esac
    safe=$(echo "$m" | tr -c 'A-Za-z0-9._\n-' '_')
    cmd="$bin -M $m -accel tcg -display none -nodefaults"
    printf '%s_%s_reset\t0\t%s\n' "$arch" "$safe" "$cmd" >> "$out/all.tsv"
    # Versioned machine types other than the newest (7.2): reset only.
    case "$m" in
      *-[0-9].[0-9]*|*-[0-9][0-9].[0-9]*) case "$m" in *7.2) ;; *) continue ;; esac ;;
    esac
    printf '%s_%s_fw\t%s\t%s\n' "$arch" "$safe" "$RUN_SECONDS" "$cmd" >> "$out/all.tsv"
  done
done
tail -n +2 "$out/all.tsv" | while IFS="$(printf '\t')" read -r name secs cmd; do
  printf '%s\t%s\t%s\n' "$name" "$secs" "$cmd"
done | xargs -P "${JOBS:-2}" -d '\n' -n 1 sh -c '
  name=$(printf "%s" "$1" | cut -f1); secs=$(printf "%s" "$1" | cut -f2); cmd=$(printf "%s" "$1" | cut -f3)
  [ -e "$CAPTURE_OUT/$name.flat.txt" ] && { echo "ok $CAPTURE_OUT/$name (kept)"; exit 0; }
  timeout 90 "${PYTHON:-python3}" "$0" "$CAPTURE_OUT/$name" "$secs" -- $cmd 2>&1 | tail -n 1
  ' "$here/capture.py" > "$out/results.txt" 2>&1 || true
