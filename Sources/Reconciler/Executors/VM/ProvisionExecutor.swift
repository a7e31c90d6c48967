import Foundation
import Logging
import Model
import Planner
import Providers

/// `provision[name]`: runs the build's provisioning step of that name inside the mounted
/// image.
///
/// * `shell`: each line, rendered (values shell-quoted), by `/bin/sh -c` in the chroot;
/// * `script`: the host script (relative to `manifestDirectory`) is uploaded to
///   `/tmp/kiln-<step>.sh` with mode 0755, run with its arguments (each rendered, then
///   quoted as one word), and removed again;
/// * `upload`: the host file or directory (relative to `manifestDirectory`) is copied to
///   its destination, with the step's mode or the source's.
///
/// Commands get the step's `env` (values rendered as written: they reach the process
/// byte for byte), `KILN_DEVICE` (the OS disk), `KILN_MOUNT_PATH`, and the chroot
/// executor's `DEVICE` (the root's source) and `MOUNT_PATH`; each may run for the step's
/// timeout. Throws `CommandRunnerError` naming the failing command and its last output
/// lines; a re-run runs the whole step again, so steps should be idempotent.
public struct ProvisionExecutor: ActionExecutor {
    public let env: ExecutorEnvironment
    /// The directory of the manifest file: relative script and upload paths start there.
    public let manifestDirectory: URL
    /// The name of the manifest's provisioning step it runs.
    public let step: String

    public init(env: ExecutorEnvironment, manifestDirectory: URL, step: String) {
        self.env = env
        self.manifestDirectory = manifestDirectory
        self.step = step
    }

    public func execute(_ action: Action, context: ExecutionContext) async throws -> ActionOutcome {
        let d = try env.build(of: action)
        guard let step = d.build.provision.first(where: { $0.name == self.step }) else {
            throw ExecutorError(
                action: action.id,
                message:
                    "build \(d.name) has no provisioning step named \(self.step); the plan is older than the manifest: run kiln plan again"
            )
        }
        let disks = VMDisks(env: env)
        let rootEntry = try await disks.requireMountedRoot(d, context: context)
        let root = disks.root(d)
        let osDevice = try await disks.device(.os, of: d, context: context).path
        var environment: [String: String] = [:]
        let values = TemplateValues(
            variables: ["BuildName": d.name, "Device": osDevice, "MountPath": root], vm: env.vm.templateValues,
            environment: env.processEnvironment)
        for (name, text) in step.env {
            environment[name] = try Self.renderPlain(text, values)
        }
        environment["KILN_DEVICE"] = osDevice
        environment["KILN_MOUNT_PATH"] = root
        let mask = SecretMask(templates: Self.templates(of: step), environment: env.processEnvironment)
        // An image of another architecture runs under emulation (planned: `mount.emulation: auto`).
        if let architecture = d.imageTraits?.architecture, architecture != env.local.emulation.host {
            context.reportProgress(detail: "running \(architecture) programs through qemu-user-static")
            try await env.local.emulation.enable(architecture, for: d.name)
        }
        let run = StepRunner(
            chroot: env.local.chroot, root: root, environment: environment, device: rootEntry.source,
            timeout: step.timeout.duration, context: context, mask: mask)

        switch step.action {
        case .shell(let lines):
            for (index, line) in lines.enumerated() {
                try context.checkInterruption()
                let command = try env.renderCommand(line, d, device: osDevice, mountPath: root)
                context.reportProgress(
                    percent: Double(index) * 100 / Double(lines.count),
                    detail: mask.apply("[\(index + 1)/\(lines.count)] \(command)"))
                try await run(command)
            }
        case .script(let path, let args):
            let script = hostFile(path)
            let target = "/tmp/kiln-\(step.name).sh"
            try context.checkInterruption()
            context.reportProgress(percent: 0, detail: "uploading \(script) to \(target)")
            try await env.local.chroot.upload(from: script, to: target, root: root, mode: 0o755)
            let words = try args.map { shellQuote(try Self.renderPlain($0, values)) }
            let command = ([target] + words).joined(separator: " ")
            context.reportProgress(percent: 10, detail: mask.apply(command))
            do {
                try await run(command)
            } catch {
                await run.removeQuietly(target)
                throw error
            }
            await run.removeQuietly(target)
        case .upload(let source, let destination, let mode):
            let file = hostFile(source)
            try context.checkInterruption()
            context.reportProgress(
                percent: 0,
                detail: "uploading \(file) to \(destination)"
                    + (mode.map { " (mode 0" + String($0, radix: 8) + ")" } ?? ""))
            try await env.local.chroot.upload(from: file, to: destination, root: root, mode: mode.map(UInt32.init))
        }
        // The step's digest lets a later run tell whether the disk holds this step as the
        // manifest now has it (RunContinuity).
        return ActionOutcome(stepDigest: d.stepDigest(step.name))
    }

    /// Every template text of a step, for the secrets it may carry (`{{env "…"}}`).
    static func templates(of step: ProvisionStep) -> [String] {
        var texts = Array(step.env.values)
        switch step.action {
        case .shell(let lines): texts += lines
        case .script(_, let args): texts += args
        case .upload: break
        }
        return texts
    }

    /// A manifest path: absolute as written, else relative to the manifest's directory.
    func hostFile(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return manifestDirectory.appendingPathComponent(path).standardizedFileURL.path
    }

    /// Renders a step value that is not a shell command line (an environment value, a
    /// script argument) with values inserted as they are.
    static func renderPlain(_ text: String, _ values: TemplateValues) throws -> String {
        try Template(parsing: text, allowed: Set(values.variables.keys)).render(values, mode: .plain)
    }
}

/// Runs one step's commands in the chroot with the step's environment and timeout, and
/// turns a failure into `CommandRunnerError` (command and output tail).
private struct StepRunner {
    let chroot: any ChrootExecutor
    let root: String
    let environment: [String: String]
    let device: String
    let timeout: Duration
    let context: ExecutionContext
    /// The secret values the step's commands may print.
    let mask: SecretMask

    /// Runs `command`, streaming its output lines into the apply events as they come.
    func callAsFunction(_ command: String) async throws {
        let spec = ChrootCommand(
            root: root, command: command, environment: environment, device: device, timeout: timeout)
        try await context.streamingOutput(mask: mask) { output in try await chroot.run(spec, output: output).check() }
    }

    /// Removes a file Kiln put into the image; a failure only leaves a file in /tmp.
    func removeQuietly(_ path: String) async {
        let spec = ChrootCommand(
            root: root, command: "rm -f \(shellQuote(path))", environment: environment, device: device,
            timeout: .seconds(60))
        _ = try? await chroot.run(spec, output: { _ in })
    }
}
