"""A fleet of builder VMs (`BENCH_ONLY=fleet`, section `fleet`).

Six builds (the quick start's: a platform image → a managed image and a gallery version in
two regions, each its own) with remote state in the emulator's Blob storage, applied by one,
two and three builder VMs of one `kiln emulator serve --builder-vms 3` (real loop devices,
the scaled latency profile): N `kiln apply --emulator-vm I` processes started together, each
with its own host locks, `--builds-at-once 2`. The figure is the wall time
until the last of them exits, and the ratio to one VM's; each VM's report says how many
builds it ran itself. Between runs the emulator is reset (its Blob storage too).

Python 3 standard library only.
"""

import os
import subprocess
import time

BUILDS = 6
VMS = (1, 2, 3)


def manifest(bench_module, prefix):
    """Six copies of the quick start's build with remote state in the emulator's Blob storage."""
    text = bench_module.many_builds_manifest(prefix, BUILDS)
    return "state:\n  azureBlob: {account: kilnbench, container: journals, prefix: %s}\n%s" % (prefix, text)


def fleet_line(output):
    """The `{"event": "fleet"}` line of a kiln's JSON output, parsed."""
    import json
    for line in output.splitlines():
        if '"event":"fleet"' in line:
            return json.loads(line)
    return None


def run(bench_module, bench, scratch):
    """Measures 1, 2 and 3 VMs on six builds; returns the section's figures."""
    out = {"builds": BUILDS, "buildsAtOnce": 2}
    for n in VMS:
        bench.fresh(bench.latency)
        ws = bench_module.workspace(scratch, f"fleet{n}")
        path = bench_module.write(ws, f"fleet{n}.yaml", manifest(bench_module, f"{bench_module.PREFIX}-fl{n}"))
        bench_module.log(f"fleet: {BUILDS} builds on {n} VM(s) …")
        procs = []
        t0 = time.monotonic()
        for vm in range(n):
            home = os.path.join(ws, f"vm{vm}")
            os.makedirs(home, exist_ok=True)
            # Its own host locks; mounts under /mnt/kiln/bench-… as every section's (the builds
            # differ, and bench.cleanup unmounts there).
            env = dict(os.environ, KILN_RUN_DIR=os.path.join(home, "run"))
            log = open(os.path.join(home, "apply.log"), "wb")
            p = subprocess.Popen(
                [bench.kiln, "apply", "--emulator-endpoints", bench.endpoints, "--emulator-vm", str(vm),
                 "--auto-approve", "--json", "--builds-at-once", "2", os.path.join(ws, path)],
                cwd=home, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
            bench_module.record_pid(scratch, p.pid)
            procs.append((vm, p, log, home))
        ran = {}
        for vm, p, log, home in procs:
            rc = p.wait()
            log.close()
            output = open(os.path.join(home, "apply.log"), errors="replace").read()
            if rc != 0:
                raise RuntimeError(f"fleet of {n}: VM {vm} exited {rc}:\n{output[-3000:]}")
            report = fleet_line(output)
            if not report or not report.get("succeeded"):
                raise RuntimeError(f"fleet of {n}: VM {vm} reported {report}")
            ran[str(vm)] = sum(1 for b in report["builds"] if not b.get("vm"))
        wall = time.monotonic() - t0
        if sum(ran.values()) != BUILDS:
            raise RuntimeError(f"fleet of {n}: builds run per VM {ran} do not add up to {BUILDS}")
        out[str(n)] = {"vms": n, "wallSeconds": round(wall, 2), "buildsPerVM": ran}
        bench_module.log(f"  {n} VM(s): {wall:.1f} s, builds per VM {ran}")
    for n in VMS[1:]:
        out[f"ratio{n}"] = round(out[str(n)]["wallSeconds"] / out["1"]["wallSeconds"], 3)
    return out
