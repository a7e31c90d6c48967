"""Kiln beside Packer's azure-chroot (`BENCH_ONLY=packer`, section `packer`).

For each job and each latency scale, the same emulator (`kiln emulator serve` with TLS and
its proxy on, real loop devices) runs Packer's azure-chroot build of
scripts/bench/packer/job-X.json and a fresh `kiln apply --auto-approve --json` of
scripts/bench/packer/kiln-X.yaml, one after the other, each after a reset of the emulator
and the same untimed setup (the source disk, the gallery and its image definitions).

Isolation: the emulator, Packer and Kiln all run in a network namespace of our own that has
only `lo` up (Packer phones home). The harness enters it itself (setns through ctypes, so its
control calls and the processes it starts are in it); Packer is started by `ip netns exec`
(which also bind-mounts /etc/netns/NS/resolv.conf, nameserver 127.0.0.1) inside a private
mount namespace where the emulator's `<deviceRoot>/disk` is bind-mounted over `/dev/disk`,
because Packer 1.6.6 waits for `readlink /dev/disk/azure/scsi1/lun<N>`. Packer reaches the
emulator only through its proxy (`HTTPS_PROXY`/`HTTP_PROXY`, `SSL_CERT_FILE` = the
emulator's CA); Kiln uses `--emulator-endpoints` (plain HTTP on the namespace's `lo`).

Cleanup (bench.cleanup calls `cleanup_peer`): every process in the namespace is stopped,
the namespace and /etc/netns/NS are removed, /dev/disk is removed if we created it (empty),
Packer's mounts die with its private mount namespace.

Python 3 standard library only.
"""

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PACKER_DIR = os.path.join(HERE, "packer")
CLONE_NEWNET = 0x40000000
JOBS = ["a", "b", "e", "c", "d"]  # the order they run in (the hard ones last)
JOB_TITLES = {
    "a": "(a) managed disk → managed image",
    "b": "(b) platform image `latest` → gallery version in 2 regions (gallery and definition exist)",
    "c": "(c) platform image → managed image and gallery version in 3 regions (Kiln: 2 data disks too)",
    "d": "(d) 4 builds on one builder VM (managed disk → managed image each)",
    "e": "(e) (b) with a last step that fails, fixed, run again (both runs)",
}
DEFINITIONS = {"b": ["bench-pb"], "c": ["bench-pc"], "e": ["bench-pe"]}
SOURCE_DISK = "bench-src"


# ---------------------------------------------------------------------------------------
# Critical chains: what each tool waits for, step by step, from the emulator's latency model.
# An operation Kiln or Packer polls ends, as seen, at the next poll: a multiple of Retry-After
# (1 s here) after its request. A device is watched locally (Kiln since issue 12, Packer
# always, every 100 ms): it is seen at the latency itself. Local work (mounting, the chroot,
# the provisioning step) is not modelled: Kiln's is taken from its run's events; both tools
# do the same local work, so it adds the same to both chains.

def _q(seconds, retry_after=1.0):
    import math
    return math.ceil(seconds / retry_after - 1e-9) * retry_after if seconds > 0 else 0.0


def chains(job, lat):
    """(Kiln's chain, Packer's chain) for `job` at latency `lat`: lists of (step, seconds)."""
    create, attach, image = _q(lat["diskCreate"]), lat["attach"], _q(lat["image"])
    version, snap, delete, access = _q(lat["versionPerRegion"]), _q(lat["snapshot"]), _q(lat["delete"]), _q(lat["access"])
    detach_model = 1.0  # Packer polls the VM every second until the disk leaves its model
    if job in ("a", "d"):
        kiln = [("create-disk", create), ("attach (device)", attach), ("image from the disk", image),
                ("delete-disk (detach ran beside the image)", delete)]
        packer = [("create disk", create), ("attach (device)", attach), ("detach request", 0.0),
                  ("image from the disk", image), ("wait for the disk to leave the VM model", detach_model),
                  ("delete disk", delete)]
    elif job in ("b", "e"):
        kiln = [("create-disk", create), ("attach (device)", attach), ("gallery-version from the disk", version),
                ("delete-disk", delete)]
        if job == "e":  # the run after the fix: Kiln resumes on the disk it kept, Packer starts over
            kiln = [("gallery-version from the kept disk", version), ("delete-disk", delete)]
        packer = [("create disk", create), ("attach (device)", attach), ("detach request", 0.0),
                  ("snapshot", snap), ("gallery version from the snapshot", version),
                  ("endGetAccess on the snapshot", access), ("delete snapshot", delete),
                  ("wait for the disk to leave the VM model", detach_model), ("delete disk", delete)]
    else:  # c
        kiln = [("create-disk", create), ("attach (device)", attach),
                ("gallery-version from the disks (the image beside it)", max(version, image)), ("delete-disk", delete)]
        packer = [("create disk", create), ("attach (device)", attach), ("detach request", 0.0),
                  ("image from the disk", image), ("snapshot", snap), ("gallery version from the snapshot", version),
                  ("endGetAccess on the snapshot", access), ("delete snapshot", delete),
                  ("wait for the disk to leave the VM model", detach_model), ("delete disk", delete)]
    return kiln, packer


LOCAL_KINDS = ("device", "pre-mount", "mount", "post-mount", "chroot-mounts", "copy-files", "provision",
               "pre-unmount", "restore-files", "unmount")


def local_seconds(run):
    """Kiln's local work on the chain, from its events: the local actions of its builds,
    the longest build's sum (they run side by side)."""
    per_build = {}
    for ev in run.events():
        action = ev.get("action") or ""
        if ev.get("type") != "done" or "/" not in action:
            continue
        build, rest = action.split("/", 1)
        if rest.split("[", 1)[0] in LOCAL_KINDS:
            per_build[build] = per_build.get(build, 0.0) + (ev.get("elapsed_seconds") or 0.0)
    return max(per_build.values(), default=0.0)


def shorten(text, limit=400):
    """A message with its resource-id prefixes cut (`…/disks/NAME`) and its length capped."""
    text = re.sub(r"/subscriptions/[^/\s]+/resource[gG]roups/[^/\s]+/providers/Microsoft\.Compute/", "…/", text)
    text = re.sub(r"compute\.\w+Client#\w+: Failure sending request: StatusCode=0 -- Original Error: autorest/azure: "
                  r"Service returned an error\. Status=<nil> ", "", text)
    return text if len(text) <= limit else text[:limit] + " …"


# ---------------------------------------------------------------------------------------
# Namespaces


def _setns(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns({path}): {os.strerror(e)}")
    finally:
        os.close(fd)


class NetNS:
    """`ip netns add NAME` with only `lo` up; the harness enters it while the section runs."""

    def __init__(self, scratch):
        self.name = f"kilnbench{os.getpid()}"
        # Recorded first, so cleanup finds it whatever happens next.
        with open(os.path.join(scratch, "netns"), "a") as f:
            f.write(self.name + "\n")
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"], check=True)
        os.makedirs(f"/etc/netns/{self.name}", exist_ok=True)
        with open(f"/etc/netns/{self.name}/resolv.conf", "w") as f:
            f.write("nameserver 127.0.0.1\n")
        links = subprocess.run(["ip", "netns", "exec", self.name, "ip", "-o", "link"], capture_output=True, text=True).stdout
        self.links = [l.split(":")[1].strip() for l in links.splitlines() if ":" in l]
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        _setns(f"/run/netns/{self.name}")

    def leave(self):
        if self.home is not None:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.setns(self.home, CLONE_NEWNET)
            os.close(self.home)
            self.home = None


def cleanup_peer(scratch):
    """Stops every process left in our namespaces, removes them, /etc/netns/NAME, and
    /dev/disk if we made it. Idempotent; runs in the host's namespaces."""
    path = os.path.join(scratch, "netns")
    names = open(path).read().split() if os.path.exists(path) else []
    for name in names:
        if not os.path.exists(f"/run/netns/{name}"):
            shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)
            continue
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            deadline = time.time() + wait
            while True:
                pids = [int(p) for p in subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                                       text=True).stdout.split() if p.isdigit()]
                pids = [p for p in pids if p != os.getpid()]
                if not pids or time.time() > deadline:
                    break
                for p in pids:
                    try:
                        os.kill(p, sig)
                    except (ProcessLookupError, PermissionError):
                        pass
                time.sleep(0.3)
        subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
        shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)
    if os.path.exists(os.path.join(scratch, "created-dev-disk")):
        try:
            os.rmdir("/dev/disk")
        except OSError:
            pass


# ---------------------------------------------------------------------------------------
# ARM calls for the untimed setup (plain HTTP on the namespace's lo)


class Arm:
    def __init__(self, endpoints):
        self.ep = endpoints
        c = endpoints["credential"]
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": c["clientId"],
                                       "client_secret": c["clientSecret"],
                                       "scope": "https://management.azure.com/.default"}).encode()
        self.token = json.loads(urllib.request.urlopen(
            f"{endpoints['login']}/{endpoints['tenantId']}/oauth2/v2.0/token", form, timeout=60).read())["access_token"]
        self.rg = f"/subscriptions/{endpoints['subscriptionId']}/resourceGroups/kiln-rg/providers/Microsoft.Compute"

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.ep["arm"] + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            data = r.read()
            return json.loads(data) if data else {}

    def wait(self, path, api):
        deadline = time.time() + 120
        while time.time() < deadline:
            state = self.call("GET", f"{path}?api-version={api}").get("properties", {}).get("provisioningState")
            if state == "Succeeded":
                return
            if state == "Failed":
                raise RuntimeError(f"setup: {path} failed")
            time.sleep(0.1)
        raise RuntimeError(f"setup: {path} did not finish")

    def source_disk(self):
        ep = self.ep
        versions = self.call("GET", f"/subscriptions/{ep['subscriptionId']}/providers/Microsoft.Compute/locations/"
                                    f"{ep['location']}/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu-24_04-lts/"
                                    f"skus/server/versions?api-version=2024-07-01")
        latest = max(versions, key=lambda v: [int(x) for x in v["name"].split(".")])
        path = f"{self.rg}/disks/{SOURCE_DISK}"
        self.call("PUT", f"{path}?api-version=2024-03-02", {
            "location": ep["location"],
            "properties": {"osType": "Linux", "hyperVGeneration": "V2",
                           "creationData": {"createOption": "FromImage", "imageReference": {"id": latest["id"]}}}})
        self.wait(path, "2024-03-02")

    def gallery(self, definitions):
        ep = self.ep
        g = f"{self.rg}/galleries/kiln_gallery"
        self.call("PUT", f"{g}?api-version=2023-07-03", {"location": ep["location"], "properties": {}})
        self.wait(g, "2023-07-03")
        for d in definitions:
            self.call("PUT", f"{g}/images/{d}?api-version=2023-07-03", {
                "location": ep["location"],
                "properties": {"osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V2",
                               "identifier": {"publisher": "kiln-bench", "offer": d, "sku": "bench"}}})
            self.wait(f"{g}/images/{d}", "2023-07-03")


# ---------------------------------------------------------------------------------------
# The section


class Peer:
    def __init__(self, b, args, scratch, kiln):
        self.b = b  # the bench module (classify, request_economy, KilnRun, Emulator …)
        self.args = args
        self.scratch = scratch
        self.kiln = kiln
        self.dir = os.path.join(scratch, "peer")
        os.makedirs(self.dir, exist_ok=True)
        self.base = json.load(open(os.path.join(b.REPO, "emulator", "latency-realistic.json")))["latency"]
        self.packer = shutil.which("packer")
        if not self.packer:
            raise RuntimeError("packer is missing (scripts/bench.sh installs Debian's package: apt-get install -y packer)")
        self.packer_version = subprocess.run([self.packer, "version"], capture_output=True, text=True,
                                             env={**os.environ, "CHECKPOINT_DISABLE": "1"}).stdout.strip().splitlines()[0]
        if not os.path.isdir("/dev/disk"):
            with open(os.path.join(scratch, "created-dev-disk"), "w") as f:
                f.write("/dev/disk\n")
            os.mkdir("/dev/disk")  # a mount point for the bind mount in Packer's namespace
        self.ns = NetNS(scratch)
        b.log(f"packer: network namespace {self.ns.name} (links: {', '.join(self.ns.links)}); {self.packer_version}")
        config = {"latency": self.scaled(0), "retryAfterSeconds": 1,
                  "builderVM": {"name": "kiln-builder", "resourceGroup": "kiln-rg", "size": "Standard_D16s_v5",
                                "maxDataDisks": 32}}
        try:
            self.emu = b.Emulator(kiln, scratch, "peer-emulator", config, tls=True)
            ep = self.emu.endpoints
            if not ep.get("proxy") or not ep.get("caFile"):
                raise RuntimeError("the emulator serves no proxy/caFile (started with --no-tls?)")
        except BaseException:
            self.ns.leave()
            raise
        self.marker = os.path.join(self.dir, "marker-outside")

    def scaled(self, f):
        return {k: round(v * f, 4) if isinstance(v, (int, float)) else v for k, v in self.base.items()}

    def close(self):
        self.b.unmount_bench()
        try:
            self.emu.reset()
        except Exception:
            pass
        self.emu.stop()
        self.ns.leave()

    # -- one tool run ---------------------------------------------------------------------

    def fresh(self, job, scale):
        """Reset, then the untimed setup at zero latency, then the job's latency."""
        self.b.unmount_bench()
        self.emu.reset()
        self.emu.set_latency(self.scaled(0))
        arm = Arm(self.emu.endpoints)
        if job in ("a", "d"):
            arm.source_disk()
        if job in DEFINITIONS:
            arm.gallery(DEFINITIONS[job])
        os.makedirs(os.path.join(self.emu.endpoints["deviceRoot"], "disk", "azure", "scsi1"), exist_ok=True)
        if os.path.exists(self.marker):
            os.unlink(self.marker)
        self.emu.set_latency(self.scaled(scale))

    def run_packer(self, job, label):
        ep = self.emu.endpoints
        cred = ep["credential"]
        mounts = os.path.join(self.dir, "packer-mnt")
        os.makedirs(mounts, exist_ok=True)
        template = os.path.join(PACKER_DIR, f"job-{job}.json")
        var = ["-var", f"mount_root={mounts}", "-var", f"location={ep['location']}"]
        if job == "d":
            var += ["-var", f"run_id={int(time.time())}"]
        if job == "e":
            var += ["-var", f"marker={self.marker}"]
        inner = ("mount --bind \"$KILN_BENCH_DISK_LINKS\" /dev/disk && exec \"$KILN_BENCH_PACKER\" build -color=false "
                 + " ".join(f"'{v}'" for v in var) + f" '{template}'")
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "https_proxy", "http_proxy")}
        env.update({
            "CHECKPOINT_DISABLE": "1", "HTTPS_PROXY": ep["proxy"], "HTTP_PROXY": ep["proxy"], "SSL_CERT_FILE": ep["caFile"],
            "PACKER_BENCH_CLIENT_ID": cred["clientId"], "PACKER_BENCH_CLIENT_SECRET": cred["clientSecret"],
            "PACKER_BENCH_TENANT_ID": ep["tenantId"], "PACKER_BENCH_SUBSCRIPTION_ID": ep["subscriptionId"],
            "PACKER_LOG": "1", "PACKER_LOG_PATH": os.path.join(self.dir, f"{label}-packer-debug.log"),
            "KILN_BENCH_DISK_LINKS": os.path.join(ep["deviceRoot"], "disk"), "KILN_BENCH_PACKER": self.packer,
            "HOME": self.dir,  # Packer's ~/.packer.d stays in the scratch directory
        })
        seq = self.emu.last_sequence()
        # The scratch path in the command line makes the process ours for bench.cleanup.
        cmd = ["netns", "exec", self.ns.name, "unshare", "-m", "--propagation", "private", "sh", "-c", inner,
               f"packer-in-{self.scratch}"]
        run = self.b.KilnRun("ip", cmd, self.dir, self.scratch, env=env, label=f"{label}-packer")
        run.requests = [e for e in self.emu.requests(since=seq) if not e["path"].startswith("/_emulator")]
        run.output = run.output.replace(cred["clientSecret"], "***")
        return run

    def run_kiln(self, job, label, ws=None, state=".kiln"):
        if ws is None:
            ws = os.path.join(self.dir, f"{label}-kiln")
            shutil.rmtree(ws, ignore_errors=True)
            os.makedirs(ws)
            text = open(os.path.join(PACKER_DIR, f"kiln-{job}.yaml")).read().replace("/marker-outside", self.marker)
            with open(os.path.join(ws, "manifest.yaml"), "w") as f:
                f.write(text)
        seq = self.emu.last_sequence()
        run = self.b.KilnRun(self.kiln, self.b.kiln_cmd(self.kiln, "apply", "manifest.yaml", self.emu.endpoints_file, state,
                                                         ["--auto-approve", "--json"]), ws, self.scratch, label=f"{label}-kiln")
        run.requests = [e for e in self.emu.requests(since=seq) if not e["path"].startswith("/_emulator")]
        run.ws = ws
        return run

    # -- what a run did -------------------------------------------------------------------

    def inventory(self, settle=60):
        """What is left in the emulator once the operations in flight have ended (at most
        `settle` seconds), so that a late detach or delete is not counted as left behind."""
        deadline = time.time() + settle
        while True:
            inv = json.loads(self.emu.call("GET", "inventory"))
            busy = [o for o in inv.get("operations", []) if o.get("status") == "InProgress"]
            if not busy or time.time() > deadline:
                break
            time.sleep(0.5)
        res = inv.get("resources", [])
        vm = next((r for r in res if r.get("kind") in ("virtualMachine", "vm") or "virtualMachines" in r.get("type", "")), {})
        return {
            "disks": sorted(r["id"].rsplit("/", 1)[1] for r in res if r.get("kind") == "disk" and not r["id"].endswith("/" + SOURCE_DISK)),
            "snapshots": sorted(r["id"].rsplit("/", 1)[1] for r in res if r.get("kind") == "snapshot"),
            "images": sorted(r["id"].rsplit("/", 1)[1] for r in res if r.get("kind") == "image"),
            "versions": sorted("/".join(r["id"].split("/")[-3::2]) for r in res if r.get("kind") in ("galleryImageVersion", "version")
                               or r.get("type", "").lower().endswith("galleries/images/versions")),
            "builderDataDisks": [d.get("name") or d.get("managedDisk", {}).get("id", "?").rsplit("/", 1)[-1]
                                 for d in vm.get("dataDisks", [])],
            "devices": len(inv.get("devices", [])),
            "devicesDetail": [{k: d.get(k) for k in ("lun", "disk", "device", "diskId", "id") if k in d} for d in inv.get("devices", [])],
            "operationsInProgress": [f"{o.get('kind')} {o.get('resourceId', '').rsplit('/', 1)[-1]}" for o in busy],
            "violations": inv.get("violations", []),
        }

    def packer_failures(self, run):
        """Packer's error lines: each build's final error (`--> NAME: …`, `Build 'NAME' errored`)
        and errors its cleanup printed (`==> NAME: error …`), resource-id prefixes shortened."""
        out = []
        for line in run.output.splitlines():
            s = line.strip()
            if (s.startswith("--> ") and "Azure resources created" not in s) or \
                    (s.startswith("==> ") and (" error " in s.lower() or "error cleaning" in s.lower())):
                out.append(shorten(s))
        return list(dict.fromkeys(out))[:16]

    def kiln_failures(self, run):
        out = []
        for e in run.events():
            if e.get("type") == "summary":
                for f in (e.get("summary") or {}).get("failures", []):
                    out.append(shorten(f"{f.get('action')}: {f.get('message')}"))
        if run.rc != 0 and not out:
            out.append(run.output.strip().splitlines()[-1][:400] if run.output.strip() else f"exit {run.rc}")
        return out[:12]

    def record(self, tool, runs, failures, after):
        reqs = [e for r in runs for e in r.requests]
        econ = self.b.request_economy(reqs, 1)
        return {
            "tool": tool,
            "wallSeconds": round(sum(r.wall for r in runs), 2),
            "wallSecondsEach": [round(r.wall, 2) for r in runs],
            "exit": [r.rc for r in runs],
            "requests": sum(v for k, v in econ["byCategory"].items()),
            "byCategory": econ["byCategory"],
            "byKind": econ["byKind"],
            "failures": failures,
            # Requests the emulator refused (4xx/5xx) or dropped (0): what a tool sent that went wrong.
            "refused": sorted({f"{e['method']} {self.b.classify(e)[1].split(' ', 1)[-1]} → {e['status']}"
                               for e in reqs if e.get("status", 200) >= 400 or e.get("status") == 0}),
            "leftAfter": after,
            "log": [os.path.relpath(r.out_path, self.scratch) for r in runs],
        }

    # -- a job at a scale -----------------------------------------------------------------

    def job(self, job, scale):
        b = self.b
        label = f"{job}-x{scale:g}"
        out = {"job": job, "title": JOB_TITLES[job], "scale": scale}

        # Packer
        self.fresh(job, scale)
        b.log(f"packer: job {job} ×{scale:g}: packer build …")
        runs = [self.run_packer(job, label)]
        fails = self.packer_failures(runs[0])
        if job == "e":
            first_ok = runs[0].rc == 0
            with open(self.marker, "w") as f:
                f.write("fixed\n")
            b.log(f"  first run exit {runs[0].rc} ({runs[0].wall:.1f} s); marker created, again …")
            runs.append(self.run_packer(job, label + "-fixed"))
            fails += [f"second run: {x}" for x in self.packer_failures(runs[1])]
            out["packerFirstRunFailed"] = not first_ok
        inv = self.inventory()
        out["packer"] = self.record("packer", runs, fails, inv)
        b.log(f"  packer: {out['packer']['wallSeconds']} s, exit {out['packer']['exit']}, "
              f"{out['packer']['requests']} requests; left: {inv}")

        # Kiln
        self.fresh(job, scale)
        b.log(f"packer: job {job} ×{scale:g}: kiln apply …")
        runs = [self.run_kiln(job, label)]
        fails = self.kiln_failures(runs[0])
        if job == "e":
            with open(self.marker, "w") as f:
                f.write("fixed\n")
            b.log(f"  first run exit {runs[0].rc} ({runs[0].wall:.1f} s); marker created, again …")
            out["kilnFirstRunFailed"] = runs[0].rc != 0
            runs.append(self.run_kiln(job, label, ws=runs[0].ws))
            fails += [f"second run: {x}" for x in self.kiln_failures(runs[1])]
        b.unmount_bench()
        inv = self.inventory()
        out["kiln"] = self.record("kiln", runs, fails, inv)
        b.log(f"  kiln: {out['kiln']['wallSeconds']} s, exit {out['kiln']['exit']}, "
              f"{out['kiln']['requests']} requests; left: {inv}")
        p, k = out["packer"], out["kiln"]
        kiln_chain, packer_chain = chains(job, self.scaled(scale))
        local = local_seconds(runs[-1])
        out["chains"] = {
            "kiln": [[step, round(sec, 2)] for step, sec in kiln_chain],
            "packer": [[step, round(sec, 2)] for step, sec in packer_chain],
            "kilnModelledSeconds": round(sum(x for _, x in kiln_chain), 2),
            "packerModelledSeconds": round(sum(x for _, x in packer_chain), 2),
            "kilnLocalSeconds": round(local, 2),
        }
        # Kiln's own schedule: its modelled chain plus the local work it measured (the last
        # run's, for (e): the resumed one), against the wall of that run.
        own = out["chains"]["kilnModelledSeconds"] + local
        out["chains"]["kilnOwnChainSeconds"] = round(own, 2)
        out["chains"]["kilnWallOverOwnChain"] = round(runs[-1].wall / own, 3) if own else None
        out["ratioWall"] = round(k["wallSeconds"] / p["wallSeconds"], 3) if p["wallSeconds"] else None
        out["ratioRequests"] = round(k["requests"] / p["requests"], 3) if p["requests"] else None
        return out

    def run(self, scales, jobs):
        result = {
            "packerVersion": self.packer_version,
            "packerBinary": self.packer,
            "netns": {"links": self.ns.links, "resolvConf": "nameserver 127.0.0.1"},
            "emulator": {"tls": True, "proxy": True},
            "scales": scales,
            "latencyByScale": {f"{s:g}": self.scaled(s) for s in scales},
            "jobs": {},
        }
        for s in scales:
            for j in jobs:
                try:
                    result["jobs"][f"{j} ×{s:g}"] = self.job(j, s)
                except Exception as e:  # a harness failure: say so, go on with the next job
                    self.b.log(f"packer: job {j} ×{s:g}: harness error: {e}")
                    result["jobs"][f"{j} ×{s:g}"] = {"job": j, "title": JOB_TITLES[j], "scale": s, "harnessError": str(e)}
        return result


def run(b, args, scratch, kiln):
    scales = [float(x) for x in args.packer_scales.split(",") if x]
    jobs = [j for j in JOBS if j in args.packer_jobs.split(",")]
    peer = Peer(b, args, scratch, kiln)
    try:
        return peer.run(scales, jobs)
    finally:
        peer.close()
