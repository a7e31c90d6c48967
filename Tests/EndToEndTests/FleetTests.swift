import Foundation
import TestSupport
import Testing

/// Issue 16 on the emulator: several builder VMs (`kiln emulator serve --builder-vms N`), each
/// a real `kiln apply --emulator-vm I` with its own mount root and host locks, sharing one
/// manifest through the emulator's Blob storage. Real loop devices, mounts and chroots.
@Suite(
    .endToEnd,
    .enabled(if: Privileges.isRoot, "needs root: the emulator attaches loop devices, kiln mounts and chroots"))
struct FleetTests {
    /// A world of `vms` builder VMs; `body` gets it. The emulator stops (detaching every
    /// disk) and the test fails on anything left: loop devices, mounts under any VM's root.
    static func withFleet(
        _ label: String, vms: Int, _ body: (EmulatedWorld) async throws -> Void
    ) async throws {
        try await timed("fleet") {
            let world = try await EmulatedWorld("kiln-e2e-\(label)", configJSON: #"{"builderVMCount": \#(vms)}"#)
            try await body(world)
            await world.close(builds: [])
            let mounts = await Leaks.mounts(under: world.dir.hostPaths.mountRoot)
            #expect(mounts.isEmpty, "mounts left: \(mounts)")
        }
    }

    /// `builds` builds from the platform image to a managed image each, with remote state;
    /// `step` is each build's one provisioning command (`NAME` is the build's name), unless
    /// `steps` gives the build its own.
    static func manifest(
        _ builds: [String], step: String = "echo NAME > /etc/role", steps: [String: String] = [:]
    ) -> String {
        var text = """
            state:
              azureBlob: {account: kilnfleet, container: journals, prefix: e2e}
            builds:

            """
        for name in builds {
            text += """
                  - name: \(name)
                    source: {platformImage: 'Canonical:ubuntu-24_04-lts:server:latest'}
                    provision:
                      - name: role
                        shell: ['\((steps[name] ?? step).replacingOccurrences(of: "NAME", with: name))']
                    outputs:
                      image:
                        id: /subscriptions/{{vm "subscription_id"}}/resourceGroups/{{vm "resource_group"}}/providers/Microsoft.Compute/images/\(name)

                """
        }
        return text
    }

    /// `kiln apply` on builder VM `vm`, in a directory of its own with its own host locks (as
    /// a separate machine has). The mount root is the world's for every VM, as `/mnt/kiln` is
    /// on every real one: a build's mount path is part of its digest, so VMs that mounted
    /// elsewhere would not be building the same thing.
    static func startApply(
        on vm: Int, in world: EmulatedWorld, manifest: String, extra: [String] = [],
        environment: [String: String] = [:]
    ) throws -> BackgroundKiln {
        let dir = world.dir.url.appendingPathComponent("vm\(vm)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["KILN_MOUNT_ROOT"] = world.dir.hostPaths.mountRoot
        env["KILN_RUN_DIR"] = dir.appendingPathComponent("run").path
        env.merge(environment) { _, new in new }
        return try BackgroundKiln(
            [
                "apply", "--emulator-endpoints", world.emulator.endpointsFile, "--emulator-vm", String(vm),
                "--auto-approve", "--json"
            ] + extra + [world.dir.url.appendingPathComponent(manifest).path],
            in: dir, environment: env)
    }

    /// The `{"event": "fleet"}` line of a kiln's output: build name → (result, VM or nil for here).
    static func report(_ kiln: BackgroundKiln) -> [String: (result: String, vm: String?)]? {
        for line in kiln.output.split(separator: "\n") where line.contains(#""event":"fleet""#) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let builds = object["builds"] as? [[String: Any]]
            else { continue }
            var out: [String: (result: String, vm: String?)] = [:]
            for b in builds {
                out[b["name"] as? String ?? ""] = (b["result"] as? String ?? "", b["vm"] as? String)
            }
            return out
        }
        return nil
    }

    /// How many times the emulator served a PUT of `type`/`name` (an image, a disk).
    static func puts(_ world: EmulatedWorld, _ type: String, _ name: String) async throws -> Int {
        try await world.emulator.requests().filter {
            $0.method == "PUT"
                && $0.path.split(separator: "?").first?.lowercased().hasSuffix("/\(type)/\(name)") == true
        }.count
    }

    @Test func threeVMsShareSixBuildsAndEachIsPublishedOnce() async throws {
        try await Self.withFleet("fleet-share", vms: 3) { world in
            let names = (1...6).map { "b\($0)" }
            try Self.manifest(names, step: "echo NAME > /etc/role; sleep 1").write(
                to: world.dir.url.appendingPathComponent("fleet.yaml"), atomically: true, encoding: .utf8)
            let kilns = try (0..<3).map { try Self.startApply(on: $0, in: world, manifest: "fleet.yaml") }
            var ranHere: [Int: [String]] = [:]
            for (vm, kiln) in kilns.enumerated() {
                let status = await kiln.waitForExit()
                #expect(status == 0, "VM \(vm) exited \(status):\n\(kiln.output.suffix(3000))")
                let report = try #require(Self.report(kiln), "VM \(vm) printed no fleet report:\n\(kiln.output)")
                #expect(Set(report.keys) == Set(names))
                #expect(report.values.allSatisfy { $0.result == "succeeded" }, "VM \(vm): \(report)")
                ranHere[vm] = report.filter { $0.value.vm == nil }.map(\.key).sorted()
            }
            // Every build ran on exactly one VM, and the work was shared.
            let all = ranHere.values.flatMap { $0 }
            #expect(all.sorted() == names, "builds run per VM: \(ranHere)")
            #expect(ranHere.values.filter { !$0.isEmpty }.count >= 2, "one VM did everything: \(ranHere)")
            for name in names {
                #expect(try await Self.puts(world, "images", name) == 1, "image \(name) published more than once")
            }
            // Every VM's own disks are gone; kiln status names who ran each build.
            let status = try await world.kiln("status", ["--json", "fleet.yaml"])
            #expect(status.status == 0, "\(status.stderr)")
            let rows = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]] ?? []
            #expect(rows.count == 6 && rows.allSatisfy { $0["state"] as? String == "succeeded" }, "\(status.stdout)")
            #expect(try await world.emulator.resources(ofType: "Microsoft.Compute/disks").isEmpty)
            let again = try await world.kiln("plan", ["--detailed-exitcode", "fleet.yaml"])
            #expect(again.status == 0, "a second plan has work:\n\(again.stdout)")
        }
    }

    @Test func twoVMsRacingForOneBuildRunItOnce() async throws {
        try await Self.withFleet("fleet-race", vms: 2) { world in
            try Self.manifest(["solo"]).write(
                to: world.dir.url.appendingPathComponent("solo.yaml"), atomically: true, encoding: .utf8)
            let kilns = try (0..<2).map { try Self.startApply(on: $0, in: world, manifest: "solo.yaml") }
            var here = 0
            for kiln in kilns {
                #expect(await kiln.waitForExit() == 0, "\(kiln.output.suffix(2000))")
                let report = try #require(Self.report(kiln))
                #expect(report["solo"]?.result == "succeeded")
                if report["solo"]?.vm == nil { here += 1 }
            }
            #expect(here == 1, "the build ran on \(here) VMs")
            #expect(try await Self.puts(world, "images", "solo") == 1)
        }
    }

    /// VM 0's kiln is SIGKILLed in the middle of a provisioning step and the VM "dies" (its
    /// OS gone: mounts and loop devices; its lease never renewed). The others take its build
    /// over: detach its disk from VM 0, attach it, continue; nothing is made twice.
    @Test func aDeadVMsBuildIsTakenOverAndConverges() async throws {
        try await Self.withFleet("fleet-takeover", vms: 3) { world in
            // The first run of `slow`'s step hangs (VM 0 dies in it); the run that takes over
            // finds the mark the step left on the disk and goes on.
            let hang =
                "[ -f /var/tmp/kiln-once ] || { touch /var/tmp/kiln-once; sync; sleep 300; }; echo NAME > /etc/role"
            try Self.manifest(["slow", "quick1", "quick2"], steps: ["slow": hang]).write(
                to: world.dir.url.appendingPathComponent("fleet.yaml"), atomically: true, encoding: .utf8)
            let lease = ["KILN_LEASE_SECONDS": "15"]
            let first = try Self.startApply(
                on: 0, in: world, manifest: "fleet.yaml", extra: ["--builds-at-once", "1"], environment: lease)
            #expect(await first.wait(for: "slow/provision[role]", timeout: .seconds(180)), "\(first.output)")
            let others = try (1...2).map {
                try Self.startApply(
                    on: $0, in: world, manifest: "fleet.yaml", extra: ["--builds-at-once", "1"], environment: lease)
            }
            try await Task.sleep(for: .seconds(1))
            await first.stop()
            _ = try await world.emulator.call("POST", "builder-vms/0/crash")
            for (i, kiln) in others.enumerated() {
                let status = await kiln.waitForExit()
                #expect(status == 0, "VM \(i + 1) exited \(status):\n\(kiln.output.suffix(4000))")
                let report = try #require(Self.report(kiln), "\(kiln.output.suffix(2000))")
                #expect(report.values.allSatisfy { $0.result == "succeeded" }, "VM \(i + 1): \(report)")
            }
            let outputs = others.map(\.output).joined(separator: "\n")
            #expect(outputs.contains("slow/take-over[os]"), "nobody took the disk over:\n\(outputs.suffix(4000))")
            for name in ["slow", "quick1", "quick2"] {
                #expect(try await Self.puts(world, "images", name) == 1, "image \(name) published more than once")
            }
            let slowDisks = try await world.emulator.requests().filter {
                $0.method == "PUT" && $0.path.contains("/disks/kiln-slow-")
            }
            #expect(slowDisks.count == 1, "slow's disk was made \(slowDisks.count) times")
            #expect(try await world.emulator.resources(ofType: "Microsoft.Compute/disks").isEmpty)
        }
    }
}
