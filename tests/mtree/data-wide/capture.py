"""Capture `info mtree -D`, `info mtree` and `info mtree -f` of one QEMU machine.

usage: python3 capture.py OUTPREFIX RUN_SECONDS -- QEMU_BINARY ARGS...

Same procedure as the shared oracle's qmpcap.py (tests/mtree/data/README.md,
"How the dumps were taken"), keeping only the three dumps the conformance runner
reads: starts QEMU with -S and a QMP socket in a fresh temporary directory; if
RUN_SECONDS > 0: cont, sleep, stop; then each HMP command through QMP
human-monitor-command, "\r\n" turned into "\n"; then quit. Exit status 3 and a
one-line reason on stdout when QEMU does not start or QMP fails. Standard
library only.
"""
import json, os, socket, subprocess, sys, time, tempfile

COMMANDS = [
    ("mtree", "info mtree"),
    ("mtree-D", "info mtree -D"),
    ("flat", "info mtree -f"),
]


class QMP:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(60)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        greet = self._read()
        assert "QMP" in greet, greet
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("QMP closed")
            msg = json.loads(line)
            if "event" in msg:
                continue
            return msg

    def cmd(self, name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.f.write((json.dumps(req) + "\n").encode())
        self.f.flush()
        r = self._read()
        if "error" in r:
            raise RuntimeError("%s: %s" % (name, r["error"]))
        return r["return"]


def last_line(path):
    """QEMU's first error line (a guest crash ends with a register dump)."""
    with open(path, "rb") as fh:
        lines = fh.read().decode(errors="replace").strip().splitlines()
    for l in lines:
        if "warning:" in l:
            continue
        if l.startswith("qemu") or "fatal" in l or "rror" in l or "must be" in l:
            return l
    return lines[-1] if lines else "(no output)"


def main():
    prefix, run_s = sys.argv[1], float(sys.argv[2])
    assert sys.argv[3] == "--"
    tmp = tempfile.mkdtemp()
    sock = os.path.join(tmp, "qmp.sock")
    argv = sys.argv[4:] + ["-S", "-qmp", "unix:%s,server=on,wait=off" % sock]
    logpath = os.path.join(tmp, "qemu.log")
    log = open(logpath, "wb")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    outs = {}
    try:
        for _ in range(400):
            if os.path.exists(sock) or p.poll() is not None:
                break
            time.sleep(0.05)
        if p.poll() is not None:
            print("FAIL", prefix, "exit %s: %s" % (p.returncode, last_line(logpath)))
            return 3
        time.sleep(0.1)
        q = QMP(sock)
        if run_s > 0:
            q.cmd("cont")
            time.sleep(run_s)
            q.cmd("stop")
        status = q.cmd("query-status").get("status")
        for suffix, hmp in COMMANDS:
            out = q.cmd("human-monitor-command", **{"command-line": hmp})
            outs[suffix] = out.replace("\r\n", "\n")
        try:
            q.cmd("quit")
        except EOFError:
            pass
        p.wait(timeout=10)
    except Exception as e:  # QEMU died while running, QMP error, timeout
        time.sleep(0.2)
        print("FAIL", prefix, "%s: %s; qemu: %s" % (type(e).__name__, e, last_line(logpath)))
        return 3
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
        for f in (sock, logpath):
            try:
                os.unlink(f)
            except OSError:
                pass
        os.rmdir(tmp)
    for suffix, text in outs.items():
        with open("%s.%s.txt" % (prefix, suffix), "w", newline="") as fh:
            fh.write(text)
    print("ok", prefix, status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
