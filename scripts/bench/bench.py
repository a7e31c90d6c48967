#!/usr/bin/env python3
"""Kiln's benchmark (`make bench`, scripts/bench.sh): runs the release `kiln` against
`kiln emulator serve` (real loop devices, as root) with the realistic latency profile
scaled down, and writes docs/benchmarks.md and docs/benchmarks.json.

Python 3 standard library only. Every figure is measured in this run; nothing is asserted
(the machine is noisy): targets are reported as met or missed. See docs/benchmarks.md for
what each figure means and how it is computed.

Cleanup: every process this script starts is recorded in SCRATCH/pids; `cleanup` (run by
the `finally` below and again by scripts/bench.sh's trap) stops them, unmounts anything
under /mnt/kiln/bench*, and detaches loop devices backed by files under SCRATCH.
"""

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer  # noqa: E402  (the Packer side-by-side, section `packer`)
import fleet  # noqa: E402  (several builder VMs, section `fleet`)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Build names all start with this, so mount paths (/mnt/kiln/<build>) never collide with
# the test suites' builds, and cleanup knows which mounts are ours.
PREFIX = "bench"
LOCAL_TOLERANCE = 0.010  # seconds: clock granularity when comparing poll gaps to Retry-After


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------
# Processes and cleanup


def record_pid(scratch, pid):
    with open(os.path.join(scratch, "pids"), "a") as f:
        f.write(f"{pid}\n")


def cleanup(scratch):
    """Stops what we started, unmounts our mounts, frees our loop devices. Idempotent."""
    pids_file = os.path.join(scratch, "pids")

    def ours(pid):
        # A recorded pid is ours only while its command line names this scratch directory
        # (every kiln and emulator we start gets a path under it), never a reused pid.
        try:
            return scratch.encode() in open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            return False

    pids = []
    if os.path.exists(pids_file):
        pids = [int(x) for x in open(pids_file).read().split() if x.isdigit()]
    # SIGTERM first: kiln finishes its journal writes, the emulator detaches its disks.
    for pid in pids:
        if ours(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
    deadline = time.time() + 60
    for pid in pids:
        while ours(pid) and time.time() < deadline:
            time.sleep(0.1)
        if ours(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    unmount_bench()
    # The Packer section's network namespace (and every process still in it).
    peer.cleanup_peer(scratch)
    # Loop devices backed by files under the scratch directory.
    out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if scratch in line:
            dev = line.split(":", 1)[0]
            subprocess.run(["losetup", "-d", dev], stderr=subprocess.DEVNULL)


def unmount_bench():
    """Unmounts what a bench build left mounted (a failed run), deepest first (the chroot's
    /proc, /dev … inside the root)."""
    try:
        mounts = [l.split()[4] for l in open("/proc/self/mountinfo")]
    except OSError:
        mounts = []
    ours = [m for m in mounts if m.startswith(f"/mnt/kiln/{PREFIX}")]
    for m in sorted(set(ours), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)


class Emulator:
    """`kiln emulator serve` in its own process, plain HTTP (or with TLS and the proxy:
    `tls=True`), with a JSON config."""

    def __init__(self, kiln, scratch, name, config, devices="loop", tls=False):
        self.state = os.path.join(scratch, name)
        os.makedirs(self.state, exist_ok=True)
        cfg = os.path.join(self.state, "config.json")
        with open(cfg, "w") as f:
            json.dump(config, f)
        self.endpoints_file = os.path.join(self.state, "endpoints.json")
        if os.path.exists(self.endpoints_file):
            os.unlink(self.endpoints_file)
        self.log_file = open(os.path.join(self.state, "serve.log"), "ab")
        self.proc = subprocess.Popen(
            [kiln, "emulator", "serve", "--state-dir", self.state, "--devices", devices, "--config", cfg]
            + ([] if tls else ["--no-tls"]),
            stdout=self.log_file, stderr=self.log_file, stdin=subprocess.DEVNULL)
        record_pid(scratch, self.proc.pid)
        deadline = time.time() + 300  # the first start builds the platform images
        while time.time() < deadline and not os.path.exists(self.endpoints_file):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the emulator did not start; see {self.state}/serve.log")
            time.sleep(0.1)
        time.sleep(0.1)
        self.endpoints = json.load(open(self.endpoints_file))
        self.control_url = self.endpoints["control"].rstrip("/")

    def call(self, method, path, body=None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(f"{self.control_url}/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.read()

    def requests(self, since=0):
        return json.loads(self.call("GET", f"requests?since={since}"))

    def last_sequence(self):
        entries = self.requests()
        return entries[-1]["sequence"] if entries else 0

    def set_latency(self, latency):
        self.call("PUT", "latency", latency)

    def reset(self):
        self.call("POST", "reset", b"")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


class KilnRun:
    """One `kiln` process: wall time, its own CPU and peak RSS (sampled from /proc while it
    runs, so provisioning commands it starts are not counted), and rusage of the process
    tree (wait4)."""

    def __init__(self, kiln, args, cwd, scratch, env=None, label="kiln"):
        self.out_path = os.path.join(cwd, f"{label}-{int(time.time() * 1000)}.log")
        environment = dict(os.environ)
        environment.update(env or {})
        with open(self.out_path, "wb") as out:
            t0 = time.monotonic()
            self.started = time.time()
            proc = subprocess.Popen([kiln] + args, cwd=cwd, stdout=out, stderr=out, stdin=subprocess.DEVNULL, env=environment)
            record_pid(scratch, proc.pid)
            tick = os.sysconf("SC_CLK_TCK")
            self.self_cpu = 0.0
            self.children_cpu_reaped = 0.0
            self.hwm_kb = 0
            while True:
                # Sample before checking for the exit: the last sample is at most one period old.
                try:
                    stat = open(f"/proc/{proc.pid}/stat").read()
                    fields = stat[stat.rindex(")") + 2:].split()
                    if fields[0] != "Z":
                        self.self_cpu = (int(fields[11]) + int(fields[12])) / tick
                    for line in open(f"/proc/{proc.pid}/status"):
                        if line.startswith("VmHWM:"):
                            self.hwm_kb = max(self.hwm_kb, int(line.split()[1]))
                except (OSError, ValueError, IndexError):
                    pass
                pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
                if pid != 0:
                    break
                time.sleep(0.02)
            self.wall = time.monotonic() - t0
            proc.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            self.rc = proc.returncode
            self.tree_cpu = rusage.ru_utime + rusage.ru_stime
            self.tree_maxrss_kb = rusage.ru_maxrss
        self.output = open(self.out_path, errors="replace").read()

    def events(self):
        out = []
        for line in self.output.splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


def kiln_cmd(kiln, cmd, manifest, endpoints, state, extra=()):
    return [cmd, "--emulator-endpoints", endpoints, "--state-dir", state] + list(extra) + [manifest]


# ---------------------------------------------------------------------------------------
# Manifests (generated from the examples, renamed to bench-* builds)


def workspace(scratch, name):
    """A directory with a copy of manifests/ (scripts and files resolve relative to it)."""
    d = os.path.join(scratch, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    shutil.copytree(os.path.join(REPO, "manifests"), os.path.join(d, "manifests"))
    return d


def renamed(example, old, new):
    text = open(os.path.join(REPO, "manifests", example)).read()
    return text.replace(old, new)


def quickstart_manifest(build):
    return renamed("quickstart.yaml", "quickstart", build)


def data_disks_manifest(build):
    # manifests/data-disks.yaml: an OS disk, two data disks (one formatted and mounted),
    # a managed image and a gallery version in three regions.
    return renamed("data-disks.yaml", "with-data", build)


def many_builds_manifest(prefix, n):
    """n copies of the quick start's build, named prefix-1 … prefix-n (own image, own
    gallery image definition)."""
    text = quickstart_manifest("QSNAME")
    head, body = text.split("builds:\n", 1)
    out = head + "builds:\n"
    for i in range(1, n + 1):
        out += body.replace("QSNAME", f"{prefix}-{i}")
    return out


def write(ws, name, text):
    path = os.path.join(ws, "manifests", name)
    with open(path, "w") as f:
        f.write(text)
    return os.path.join("manifests", name)


# ---------------------------------------------------------------------------------------
# Request log analysis


def parse_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def classify(e):
    """(category, kind) of a logged request."""
    path = e["path"].split("?", 1)[0]
    low = path.lower()
    if low.startswith("/_emulator"):
        return "control", "control"
    if "/oauth2/" in low:
        return "token", "token " + ("imds" if low.startswith("/metadata/") else "entra")
    if low.startswith("/metadata/"):
        return "imds", "IMDS " + low
    if not low.startswith("/subscriptions"):
        return "other", e["method"] + " " + path
    m = re.search(r"/locations/[^/]+/(diskoperations|operations|capsoperations)/", low)
    if m:
        return "poll", f"poll ({m.group(1)})"
    parts = path.split("/providers/", 1)
    # No provider: /subscriptions/S[/resourceGroups/RG[/resources]] (the tag listing).
    segs = parts[0].strip("/").split("/")
    rtype = "/".join(segs[i] for i in range(0, len(segs), 2)) + (" (list)" if len(segs) % 2 == 1 and len(segs) > 1 else "")
    if len(parts) == 2:
        segs = parts[1].split("/")
        # Microsoft.Compute/disks/NAME[/sub/NAME…][/action]
        # Microsoft.Compute/TYPE/NAME[/TYPE/NAME…][/ACTION or /LIST]: the odd segments.
        types = [segs[i] for i in range(1, len(segs), 2)]
        rtype = "/".join(types)
        if e["method"] == "GET" and len(segs) % 2 == 0:
            rtype += " (list)"
    if "$expand=replicationstatus" in e["path"].lower():
        rtype += " (replication status)"
    return ("mutating" if e["method"] in ("PUT", "PATCH", "POST", "DELETE") else "read"), f"{e['method']} {rtype}"


def key(e):
    return f"{e['method']} {e['path'].split('?', 1)[0].lower()}"


def request_economy(entries, retry_after):
    """Counts by category and kind, polls per operation, and the poll gaps compared with
    Retry-After (a gap is measured from the end of one poll's answer to the next poll)."""
    by_cat, by_kind = {}, {}
    polls = {}
    for e in entries:
        cat, kind = classify(e)
        if cat == "control":
            continue
        by_cat[cat] = by_cat.get(cat, 0) + 1
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if cat == "poll":
            polls.setdefault(e["path"].split("?", 1)[0].lower(), []).append(e)
    gaps = []
    results = 0
    for op, es in polls.items():
        es.sort(key=lambda e: e["sequence"])
        gap = [parse_time(b["time"]) - (parse_time(a["time"]) + a["durationMs"] / 1000.0) for a, b in zip(es, es[1:])]
        # The log keeps no query, so the `Location` URL (`…?monitor=true`), which Kiln reads
        # once after the status said Succeeded to get a POST's result, has the status URL's
        # path: a last GET right after the previous one is that read, not a poll.
        if gap and gap[-1] < retry_after - LOCAL_TOLERANCE:
            gap.pop()
            es.pop()
            results += 1
        gaps += gap
    by_cat["poll"] = by_cat.get("poll", 0) - results
    by_cat["read"] = by_cat.get("read", 0) + results
    if results:
        by_kind["GET operation result (Location, after Succeeded)"] = results
        for k in [k for k in by_kind if k.startswith("poll (operations)")]:
            by_kind[k] -= results
    # The first poll of an operation: the request that started it is not in the log, but it
    # is a mutating request that ended before the first poll, so if the latest such end is
    # Retry-After before the poll, the real gap is at least that. Otherwise (another
    # mutation ended in between) the check is inconclusive, not failed.
    mut_ends = sorted(parse_time(e["time"]) + e["durationMs"] / 1000.0 for e in entries if classify(e)[0] == "mutating")
    first_ok = first_unknown = 0
    for es in polls.values():
        t = parse_time(es[0]["time"])
        before = [m for m in mut_ends if m <= t]
        if before and t - before[-1] >= retry_after - LOCAL_TOLERANCE:
            first_ok += 1
        else:
            first_unknown += 1
    counts = [len(v) for v in polls.values()]
    early = [g for g in gaps if g < retry_after - LOCAL_TOLERANCE]
    return {
        "byCategory": dict(sorted(by_cat.items())),
        "byKind": dict(sorted(by_kind.items())),
        "operationsPolled": len(polls),
        "polls": sum(counts),
        "pollsPerOperationMean": round(sum(counts) / len(counts), 2) if counts else 0,
        "pollsPerOperationMax": max(counts) if counts else 0,
        "minPollGapSeconds": round(min(gaps), 3) if gaps else None,
        "pollsSoonerThanRetryAfter": len(early),
        "firstPollsCheckedLate": first_ok,
        "firstPollsInconclusive": first_unknown,
        "retryAfterSeconds": retry_after,
    }


# ---------------------------------------------------------------------------------------
# Critical path


# Which latency of the emulator's model each action kind waits for, and how many ARM
# long-running operations it is (each one's end is seen at a poll, Retry-After apart).
def modelled(action, latency, plan_regions, gallery_exists):
    kind = action["id"].split("/", 1)[1].split("[", 1)[0]
    if kind == "create-disk":
        return [latency["diskCreate"]]
    if kind == "attach":
        return [latency["attach"]]
    if kind == "detach":
        return [latency["detach"]]
    if kind == "snapshot":
        return [latency["snapshot"]]
    if kind == "image":
        return [latency["image"]]
    if kind == "gallery-definition":
        return [] if gallery_exists else [latency["gallery"], latency["gallery"]]  # gallery, image definition
    if kind == "gallery-version":
        regions = plan_regions[action["id"].split("/")[0]]
        if latency.get("replication", "concurrent") == "concurrent":
            return [latency["versionPerRegion"]]  # the regions replicate side by side
        return [latency["versionPerRegion"] * regions]
    if kind in ("delete-snapshot", "delete-disk"):
        return [latency["delete"]]
    if kind == "replicate":
        return []  # the version's PUT ends when every region has replicated
    return None  # local work (or reads only): measured


# What a builder that does one thing at a time waits for: the same, except that it
# replicates the version's regions one after another.
def modelled_alone(action, latency, plan_regions, gallery_exists):
    kind = action["id"].split("/", 1)[1].split("[", 1)[0]
    if kind == "gallery-version":
        return [latency["versionPerRegion"] * plan_regions[action["id"].split("/")[0]]]
    return modelled(action, latency, plan_regions, gallery_exists)


def quantised(ops, retry_after):
    # A poll every Retry-After from the request: the end is seen at the next multiple.
    return sum(math.ceil(l / retry_after - 1e-9) * retry_after if l > 0 else 0 for l in ops)


def critical_path(plan, events, latency, retry_after, gallery_exists, regions):
    elapsed = {}
    for ev in events:
        if ev.get("type") == "done" and ev.get("action"):
            elapsed[ev["action"]] = ev.get("elapsed_seconds") or 0.0
    weight, qweight, alone, kinds = {}, {}, {}, {}
    for a in plan["actions"]:
        aid = a["id"]
        if a["status"] == "done":
            weight[aid] = qweight[aid] = alone[aid] = 0.0
            continue
        ops = modelled(a, latency, regions, gallery_exists)
        if ops is None:
            weight[aid] = qweight[aid] = alone[aid] = elapsed.get(aid, 0.0)
            kinds[aid] = "measured"
        else:
            weight[aid] = sum(ops)
            qweight[aid] = quantised(ops, retry_after)
            alone[aid] = sum(modelled_alone(a, latency, regions, gallery_exists))
            kinds[aid] = "modelled"
    deps = {a["id"]: a["dependsOn"] for a in plan["actions"]}

    def longest(w):
        memo, via = {}, {}

        def f(aid):
            if aid in memo:
                return memo[aid]
            best, arg = 0.0, None
            for d in deps.get(aid, []):
                v = f(d)
                if v > best:
                    best, arg = v, d
            memo[aid] = best + w.get(aid, 0.0)
            via[aid] = arg
            return memo[aid]

        end = max(deps, key=f)
        chain, cur = [], end
        while cur:
            chain.append(cur)
            cur = via[cur]
        return memo[end], list(reversed(chain))

    cp, chain = longest(weight)
    qcp, _ = longest(qweight)
    return {
        "criticalPathSeconds": round(cp, 2),
        "criticalPathQuantisedSeconds": round(qcp, 2),
        "sumOfAllSeconds": round(sum(alone.values()), 2),
        "sumOfAllOneReplicationSeconds": round(sum(weight.values()), 2),
        "chain": chain,
        "measuredLocalSeconds": round(sum(weight[a] for a in weight if kinds.get(a) == "measured"), 2),
    }


# ---------------------------------------------------------------------------------------
# The benchmarks


class Bench:
    def __init__(self, args, scratch):
        self.args = args
        self.kiln = os.path.abspath(args.kiln)
        self.scratch = scratch
        self.retry_after = 1
        self.base = json.load(open(os.path.join(REPO, "emulator", "latency-realistic.json")))["latency"]
        base = self.base
        self.latency = self.scaled(args.scale)
        self.zero = self.scaled(0)
        self.results = {}
        config = {
            "latency": self.latency,
            "retryAfterSeconds": self.retry_after,
            # 16 builds at once attach 16 OS disks to the one builder VM: a size that takes
            # 32 data disks (Kiln reads the limit from the size name; the emulator enforces it).
            "builderVM": {"name": "kiln-builder", "resourceGroup": "kiln-rg", "size": "Standard_D16s_v5", "maxDataDisks": 32},
            # The fleet section's builder VMs (VM 0 is the one every other section uses).
            "builderVMCount": 3,
        }
        log(f"starting the emulator (latency ×{args.scale}) …")
        self.emu = Emulator(self.kiln, scratch, "emulator", config)
        self.endpoints = self.emu.endpoints_file

    def scaled(self, factor):
        return {k: round(v * factor, 4) if isinstance(v, (int, float)) else v for k, v in self.base.items()}

    def fresh(self, latency):
        self.emu.reset()
        self.emu.set_latency(latency)

    def apply(self, ws, manifest, state=".kiln", env=None, label="apply", extra=()):
        seq = self.emu.last_sequence()
        run = KilnRun(self.kiln, kiln_cmd(self.kiln, "apply", manifest, self.endpoints, state, ["--auto-approve", "--json", *extra]),
                      ws, self.scratch, env=env, label=label)
        run.requests = [e for e in self.emu.requests(since=seq) if not e["path"].startswith("/_emulator")]
        with open(run.out_path[:-4] + "-requests.json", "w") as f:
            json.dump(run.requests, f, indent=1)
        return run

    def plan(self, ws, manifest, state=".kiln", label="plan"):
        seq = self.emu.last_sequence()
        run = KilnRun(self.kiln, kiln_cmd(self.kiln, "plan", manifest, self.endpoints, state, ["--json"]), ws, self.scratch, label=label)
        run.requests = [e for e in self.emu.requests(since=seq) if not e["path"].startswith("/_emulator")]
        with open(run.out_path[:-4] + "-requests.json", "w") as f:
            json.dump(run.requests, f, indent=1)
        if run.rc != 0:
            raise RuntimeError(f"kiln plan failed ({run.rc}): {run.output[-2000:]}")
        run.plan = json.loads(run.output[run.output.index("{"):])["plan"]
        return run

    def check(self, run, what):
        if run.rc != 0:
            raise RuntimeError(f"{what} failed (exit {run.rc}); output in {run.out_path}:\n{run.output[-3000:]}")

    # -- critical path ------------------------------------------------------------------

    def critical(self, name, manifest_text, regions, scale=None):
        latency = self.latency if scale is None else self.scaled(scale)
        label = name if scale is None else f"{name} ×{scale:g}"
        self.fresh(latency)
        ws = workspace(self.scratch, name)
        manifest = write(ws, f"{name}.yaml", manifest_text)
        plan = self.plan(ws, manifest).plan
        log(f"{name}: applying ({len(plan['actions'])} actions) …")
        run = self.apply(ws, manifest, label="apply")
        self.check(run, f"apply of {name}")
        events = run.events()
        starts = [parse_time(e["@timestamp"]) for e in events if e.get("type") == "start"]
        ends = [parse_time(e["@timestamp"]) for e in events if e.get("type") == "summary"]
        cp = critical_path(plan, events, latency, self.retry_after, False, regions)
        r = {
            "manifest": f"generated from {'manifests/quickstart.yaml' if 'qs' in name else 'manifests/data-disks.yaml'} (build renamed {name})",
            "actions": len(plan["actions"]),
            "wallSeconds": round(run.wall, 2),
            "schedulerSeconds": round(ends[-1] - starts[0], 2) if starts and ends else None,
            **cp,
        }
        r["efficiency"] = round(run.wall / cp["criticalPathSeconds"], 3)
        r["efficiencyQuantised"] = round(run.wall / cp["criticalPathQuantisedSeconds"], 3)
        r["wallOverSum"] = round(run.wall / cp["sumOfAllSeconds"], 3)
        r["requests"] = request_economy(run.requests, self.retry_after)
        r["kilnCPUSeconds"] = round(run.self_cpu, 2)
        r["kilnPeakRSSMB"] = round(run.hwm_kb / 1024, 1)
        r["treeCPUSeconds"] = round(run.tree_cpu, 2)
        r["durations"] = {e["action"]: e.get("elapsed_seconds") for e in events if e.get("type") == "done"}
        r["latencyScale"] = self.args.scale if scale is None else scale
        log(f"{label}: wall {run.wall:.1f} s, critical path {cp['criticalPathSeconds']} s "
            f"(quantised {cp['criticalPathQuantisedSeconds']} s), sum {cp['sumOfAllSeconds']} s")
        self.results.setdefault("criticalPath", {})[label] = r
        return r, plan, run

    # -- resume -------------------------------------------------------------------------

    def resume(self):
        name = f"{PREFIX}-rs"
        text = quickstart_manifest(name)
        ws = workspace(self.scratch, "resume")
        manifest = write(ws, "resume.yaml", text)
        # The uninterrupted run of this exact build (the name is part of resource names).
        self.fresh(self.latency)
        plan = self.plan(ws, manifest, state=".kiln-full").plan
        full = self.apply(ws, manifest, state=".kiln-full", label="full")
        self.check(full, "uninterrupted apply (resume baseline)")
        full_mut = multiset(e for e in full.requests if classify(e)[0] == "mutating")
        durations = {e["action"]: e.get("elapsed_seconds") or 0.0 for e in full.events() if e.get("type") == "done"}
        # Actions already done at plan time (resolve-source) never run, so never crash.
        actions = [a["id"] for a in plan["actions"] if a["status"] != "done"]
        if self.args.resume_limit:
            actions = actions[: self.args.resume_limit]
        rows = []
        for i, aid in enumerate(actions):
            self.fresh(self.latency)
            state = f".kiln-{i}"
            log(f"resume: SIGKILL after {aid} …")
            first = self.apply(ws, manifest, state=state, env={"KILN_CRASH_AT": f"after:{aid}"}, label=f"crash-{i}")
            killed = first.rc == -signal.SIGKILL
            second = self.apply(ws, manifest, state=state, label=f"resume-{i}")
            resource = next((a.get("resource") for a in plan["actions"] if a["id"] == aid), None)
            both = multiset(e for e in first.requests + second.requests if classify(e)[0] == "mutating")
            extra = {k: n - full_mut.get(k, 0) for k, n in both.items() if n > full_mut.get(k, 0)}
            own = [resource.lower()] if resource else []
            if "/attach[" in aid or "/detach[" in aid:
                own.append("/virtualmachines/")  # attachDetachDataDisks is a POST on the VM
            foreign = {k: n for k, n in extra.items() if not any(o in k for o in own)}
            budget = (full.wall + durations.get(aid, 0.0)) * 1.10
            rows.append({
                "action": aid,
                "killed": killed,
                "resumedOK": second.rc == 0,
                "interruptedWall": round(first.wall, 2),
                "resumedWall": round(second.wall, 2),
                "resumedMutating": sum(1 for e in second.requests if classify(e)[0] == "mutating"),
                "repeatedMutating": sum(extra.values()),
                "repeatedOutsideAction": sorted(foreign),
                "budgetSeconds": round(budget, 2),
                "withinBudget": first.wall + second.wall <= budget,
                "resumeFailure": next((f"{f['action']}: {f['message']}" for e in second.events() if e.get("type") == "summary"
                                       for f in (e.get("summary") or {}).get("failures", [])), None),
            })
            if second.rc != 0:
                unmount_bench()  # before the next reset detaches the devices
            log(f"  killed={killed} resumed rc={second.rc} walls {first.wall:.1f}+{second.wall:.1f} "
                f"(budget {budget:.1f}) repeats {sum(extra.values())} outside {sorted(foreign)}")
        self.results["resume"] = {
            "uninterruptedWallSeconds": round(full.wall, 2),
            "uninterruptedMutating": sum(full_mut.values()),
            "rows": rows,
        }

    # -- no-op plan ---------------------------------------------------------------------

    def noop(self):
        out = {}
        for n in (1, 16):
            self.fresh(self.zero)
            ws = workspace(self.scratch, f"noop{n}")
            manifest = write(ws, f"noop{n}.yaml", many_builds_manifest(f"{PREFIX}-np{n}", n))
            log(f"no-op plan: converging {n} build(s) at zero latency …")
            self.check(self.apply(ws, manifest, label="converge"), f"converging {n} builds")
            self.plan(ws, manifest, label="warm")  # page cache, as a user's second plan would be
            runs = [self.plan(ws, manifest, label=f"noop-{k}") for k in range(3)]
            best = min(runs, key=lambda r: r.wall)
            empty = all(not [a for a in r.plan["actions"] if a["status"] != "done"] for r in runs)
            econ = request_economy(best.requests, self.retry_after)
            outputs = 2 * n  # a managed image and a gallery version per build
            reads = econ["byCategory"].get("read", 0) + econ["byCategory"].get("poll", 0)
            # Resolving a `latest` platform image: a read of the source, not of an output.
            source_reads = sum(c for k, c in econ["byKind"].items() if k.startswith("GET locations/publishers/"))
            out[str(n)] = {
                "builds": n,
                "outputResources": outputs,
                "planEmpty": empty,
                "wallSeconds": round(best.wall, 3),
                "wallSecondsAll": [round(r.wall, 3) for r in runs],
                "armReads": reads,
                "sourceReads": source_reads,
                "tokenRequests": econ["byCategory"].get("token", 0),
                "imdsRequests": econ["byCategory"].get("imds", 0),
                "byKind": econ["byKind"],
            }
            log(f"  {n} build(s): {best.wall:.2f} s, {reads} ARM reads for {outputs} outputs")
        self.results["noopPlan"] = out

    # -- parallel builds ----------------------------------------------------------------

    def parallel(self):
        out = {}
        # The default --parallelism (10), and one that never makes an action wait for a slot.
        for n, parallelism in ((1, None), (8, None), (8, 64)):
            self.fresh(self.latency)
            key = f"{n}" if parallelism is None else f"{n} --parallelism {parallelism}"
            ws = workspace(self.scratch, f"par{n}-{parallelism or 'default'}")
            manifest = write(ws, f"par{n}.yaml", many_builds_manifest(f"{PREFIX}-pb{n}", n))
            log(f"parallel: {key} build(s) …")
            run = self.apply(ws, manifest, label="apply", extra=["--parallelism", str(parallelism)] if parallelism else [])
            self.check(run, f"apply of {n} builds")
            events = run.events()
            vm_ops = [e for e in run.requests if e["method"] == "POST" and "attachdetachdatadisks" in e["path"].lower()]
            out[key] = {"builds": n, "parallelism": parallelism or 10, "wallSeconds": round(run.wall, 2),
                        "attachDetachRequests": len(vm_ops),
                        "kilnCPUSeconds": round(run.self_cpu, 2), "kilnPeakRSSMB": round(run.hwm_kb / 1024, 1),
                        "attachSecondsMax": max((e.get("elapsed_seconds") or 0 for e in events
                                                 if e.get("type") == "done" and "/attach[" in (e.get("action") or "")), default=0)}
            log(f"  {key} build(s): {run.wall:.1f} s")
        out["ratio"] = round(out["8"]["wallSeconds"] / out["1"]["wallSeconds"], 3)
        out["ratioUnlimited"] = round(out["8 --parallelism 64"]["wallSeconds"] / out["1"]["wallSeconds"], 3)
        self.results["parallel"] = out

    # -- emulator -----------------------------------------------------------------------

    def emulator_figures(self):
        self.fresh(self.zero)
        ep = self.emu.endpoints
        cred = ep["credential"]
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": cred["clientId"],
                                       "client_secret": cred["clientSecret"], "scope": "https://management.azure.com/.default"}).encode()
        token = json.loads(urllib.request.urlopen(f"{ep['login']}/{ep['tenantId']}/oauth2/v2.0/token", form).read())["access_token"]
        arm = urllib.parse.urlparse(ep["arm"])
        path = f"{ep['builderVMId']}?api-version=2024-07-01"
        headers = {"Authorization": f"Bearer {token}"}
        results = {}
        for conns in (1, 8):
            count = [0] * conns
            stop = time.monotonic() + self.args.get_seconds

            def worker(i):
                c = http.client.HTTPConnection(arm.hostname, arm.port, timeout=30)
                while time.monotonic() < stop:
                    c.request("GET", path, headers=headers)
                    r = c.getresponse()
                    r.read()
                    if r.status != 200:
                        raise RuntimeError(f"GET builder VM: HTTP {r.status}")
                    count[i] += 1
                c.close()

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            results[str(conns)] = round(sum(count) / (time.monotonic() - t0))
            log(f"emulator: {results[str(conns)]} small GETs/s over {conns} connection(s)")
        self.emu.call("DELETE", "requests")

        # Disk copy: a 4 GiB empty disk, 1 GiB written into its blob, snapshot (Copy) of it.
        def arm_call(method, p, body=None):
            c = http.client.HTTPConnection(arm.hostname, arm.port, timeout=600)
            c.request(method, p, body=None if body is None else json.dumps(body),
                      headers={**headers, "Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            c.close()
            if r.status >= 300:
                raise RuntimeError(f"{method} {p}: HTTP {r.status} {data[:300]!r}")
            return data

        rg = f"/subscriptions/{ep['subscriptionId']}/resourceGroups/kiln-rg/providers/Microsoft.Compute"
        disk = f"{rg}/disks/{PREFIX}-copy-src"
        arm_call("PUT", f"{disk}?api-version=2024-03-02",
                 {"location": ep["location"], "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 4}})
        blobs = [os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(self.emu.state, "disks")) for f in fs
                 if f"{PREFIX}-copy-src" in os.path.join(dp, f).lower()]
        if len(blobs) != 1:
            raise RuntimeError(f"cannot find the blob of {disk}: {blobs}")
        # 1 GiB of non-zero data in the middle of the disk (a real file system scatters too).
        subprocess.run(["dd", "if=/dev/urandom", f"of={blobs[0]}", "bs=1M", "count=1024", "seek=1024",
                        "conv=notrunc", "status=none"], check=True)
        os.sync()
        t0 = time.monotonic()
        arm_call("PUT", f"{rg}/snapshots/{PREFIX}-copy-snap?api-version=2024-03-02",
                 {"location": ep["location"], "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": disk}}})
        copy = time.monotonic() - t0
        alloc = os.stat(blobs[0]).st_blocks * 512
        results["diskCopy"] = {"logicalGiB": 4, "writtenGiB": 1, "allocatedBytes": alloc, "seconds": round(copy, 2),
                               "writtenMiBPerSecond": round(1024 / copy), "logicalMiBPerSecond": round(4096 / copy)}
        log(f"emulator: 4 GiB disk (1 GiB written) copied in {copy:.2f} s")
        self.results["emulator"] = {"smallGETsPerSecond": {k: v for k, v in results.items() if k != "diskCopy"},
                                    "diskCopy": results["diskCopy"]}


def multiset(entries):
    out = {}
    for e in entries:
        out[key(e)] = out.get(key(e), 0) + 1
    return out


# ---------------------------------------------------------------------------------------
# Report


def machine():
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal:")), "0")
    load = open("/proc/loadavg").read().split()[:3]
    return {"nproc": os.cpu_count(), "memoryGiB": round(int(mem) / 1048576, 1), "kernel": platform.release(),
            "loadAverageAtStart": " ".join(load)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--kiln", default=os.path.join(REPO, ".build", "release", "kiln"))
    run.add_argument("--scratch", required=True)
    run.add_argument("--scale", type=float, default=0.1, help="factor on emulator/latency-realistic.json")
    run.add_argument("--only", default="critical,economy,resume,noop,parallel,cost,emulator,fleet,packer")
    run.add_argument("--critical-scales", default="", help="more latency factors for the critical-path figure, comma-separated")
    run.add_argument("--resume-limit", type=int, default=0, help="only the first N action boundaries (0: all)")
    run.add_argument("--get-seconds", type=float, default=3.0)
    run.add_argument("--packer-scales", default="0.2,1", help="latency factors for the Packer side-by-side")
    run.add_argument("--packer-jobs", default="a,b,c,d,e", help="jobs of the Packer side-by-side")
    run.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks.json"))
    run.add_argument("--command", default="make bench")
    run.add_argument("--merge", action="store_true", help="update the sections measured now in an existing --out file")
    c = sub.add_parser("cleanup")
    c.add_argument("--scratch", required=True)
    args = p.parse_args()
    if args.cmd == "cleanup":
        cleanup(os.path.abspath(args.scratch))
        return 0
    scratch = os.path.abspath(args.scratch)
    only = set(args.only.split(","))
    started = datetime.datetime.now(datetime.timezone.utc)
    doc = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "command": args.command, "machine": machine(),
           "latencyScale": args.scale, "retryAfterSeconds": 1}
    bench = None
    try:
        bench = Bench(args, scratch) if only - {"packer"} else None
        if bench:
            doc["latencySeconds"] = bench.latency
        results = bench.results if bench else {}
        if "packer" in only:
            # Its own emulator (TLS and proxy on) in its own network namespace.
            results["packer"] = peer.run(sys.modules[__name__], args, scratch, os.path.abspath(args.kiln))
        if only & {"critical", "economy", "cost"}:
            qs, qs_plan, qs_run = bench.critical(f"{PREFIX}-qs", quickstart_manifest(f"{PREFIX}-qs"), {f"{PREFIX}-qs": 2})
            if only & {"critical", "economy"}:
                bench.critical(f"{PREFIX}-dd", data_disks_manifest(f"{PREFIX}-dd"), {f"{PREFIX}-dd": 3})
            if "critical" in only:
                for extra in [float(x) for x in args.critical_scales.split(",") if x]:
                    bench.critical(f"{PREFIX}-qs", quickstart_manifest(f"{PREFIX}-qs"), {f"{PREFIX}-qs": 2}, scale=extra)
                    bench.critical(f"{PREFIX}-dd", data_disks_manifest(f"{PREFIX}-dd"), {f"{PREFIX}-dd": 3}, scale=extra)
            bench.results["cost"] = {"kilnCPUSeconds": qs["kilnCPUSeconds"], "kilnPeakRSSMB": qs["kilnPeakRSSMB"],
                                     "treeCPUSeconds": qs["treeCPUSeconds"], "wallSeconds": qs["wallSeconds"]}
        if "resume" in only:
            bench.resume()
        if "noop" in only:
            bench.noop()
        if "parallel" in only:
            bench.parallel()
        if "emulator" in only:
            bench.emulator_figures()
        if "fleet" in only:
            bench.results["fleet"] = fleet.run(sys.modules[__name__], bench, scratch)
    finally:
        unmount_bench()  # before the emulator detaches the devices under the mounts
        if bench:
            try:
                bench.emu.reset()
            except Exception:
                pass
            bench.emu.stop()
        cleanup(scratch)
    doc["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    doc["results"] = results
    if args.merge and os.path.exists(args.out):
        # Keep the sections this run did not measure (each section says when it ran).
        old = json.load(open(args.out))
        for section, value in results.items():
            old.setdefault("sections", {})[section] = {"date": doc["date"], "command": args.command,
                                                      "loadAverageAtStart": doc["machine"]["loadAverageAtStart"]}
            old["results"][section] = value
        old["finished"] = doc["finished"]
        doc = old
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
