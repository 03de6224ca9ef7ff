#!/usr/bin/env python3
"""--describe on the service binaries, as a user runs them:

1. it connects to nothing: the brokers named by -X bootstrap.servers are a
   listening socket of this test, which must see no connection, and no file
   (view, store) appears; the control (the same listener without
   --describe) does connect, so the check can see a connection;
2. it prints one document and exits 0;
3. a bad format is a one-line usage error on stderr, exit 2, nothing on
   stdout;
4. the README's excerpt of the listener's document (the ```yaml block after
   "<!-- describe: sluice-listener ARGS -->") is what the listener prints
   with ARGS, line for line up to its closing "# ..." comment.

usage: check_describe.py LISTENER TRIGGER FAULTS README.md
"""
import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import time

listener, trigger, faults, readme = (os.path.abspath(a) for a in sys.argv[1:5])
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def commands(port, fmt):
    x = ["-X", "bootstrap.servers=127.0.0.1:%d" % port]
    d = ["--describe" if fmt is None else "--describe=" + fmt]
    return {
        "listener": [listener, "--source", "kafka:things", "--key", "/thing/id"] + x + d,
        "trigger": [trigger, "--source", "kafka:cdc", "--sink", "kafka:things", "--format",
                    "dynamodb", "--entity", "thing"] + x + d,
        "faults": [faults, "store", "--source", "kafka:faults"] + x + d,
    }


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
port = srv.getsockname()[1]

with tempfile.TemporaryDirectory() as tmp:
    for fmt in (None, "json", "yaml"):
        for name, cmd in commands(port, fmt).items():
            r = subprocess.run(cmd, cwd=tmp, capture_output=True, timeout=60)
            what = "%s --describe%s" % (name, "" if fmt is None else "=" + fmt)
            check(r.returncode == 0, "%s: exit %d: %s" % (what, r.returncode, r.stderr))
            out = r.stdout.decode()
            if fmt == "yaml":
                check(out.startswith('asyncapi: "3.0.0"\n'), "%s: not YAML: %r" % (what, out[:80]))
            else:
                try:
                    check(json.loads(out)["asyncapi"] == "3.0.0", what + ": not AsyncAPI 3.0.0")
                except ValueError as e:
                    check(False, "%s: not JSON: %s" % (what, e))
            # Nothing connected, nothing written.
            ready, _, _ = select.select([srv], [], [], 0.2)
            check(not ready, what + ": connected to the brokers")
            if ready:
                srv.accept()[0].close()
            check(os.listdir(tmp) == [], "%s: wrote %s" % (what, os.listdir(tmp)))

    # Control: the listener that runs does connect (the check can see it).
    p = subprocess.Popen(commands(port, "json")["listener"][:-1], cwd=tmp,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready, _, _ = select.select([srv], [], [], 60)
    check(bool(ready), "control: the running listener did not connect")
    if ready:
        srv.accept()[0].close()
    p.terminate()
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()

    # A bad format: one line, exit 2, no document.
    for name, cmd in commands(port, "xml").items():
        r = subprocess.run(cmd, cwd=tmp, capture_output=True, timeout=60)
        err = r.stderr.decode()
        check(r.returncode == 2, "%s --describe=xml: exit %d" % (name, r.returncode))
        check(err.count("\n") == 1 and "--describe=xml" in err,
              "%s --describe=xml: stderr %r" % (name, err))
        check(r.stdout == b"", "%s --describe=xml: stdout %r" % (name, r.stdout[:80]))

# The README's excerpt.
text = open(readme, encoding="utf-8").read()
m = re.search(r"<!-- describe: sluice-listener (.*?) -->\n```yaml\n(.*?)```", text, re.S)
check(bool(m), "README.md: no <!-- describe: sluice-listener ... --> yaml block")
if m:
    shown = m.group(2).split("\n")
    cut = next((i for i, l in enumerate(shown) if l.lstrip().startswith("# ")), len(shown))
    r = subprocess.run([listener] + m.group(1).split(), capture_output=True, timeout=60)
    real = r.stdout.decode().split("\n")
    check(r.returncode == 0 and cut > 10 and shown[:cut] == real[:cut],
          "README.md's listener document differs from the listener's output:\n" +
          "\n".join(a + "  <>  " + b for a, b in zip(shown[:cut], real[:cut]) if a != b)[:2000])

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
