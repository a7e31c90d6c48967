/// One provisioning step, run in order inside the chroot.
public struct ProvisionStep: Sendable, Hashable, Codable {
    public enum Action: Sendable, Hashable {
        /// Inline commands, run one after another by `/bin/sh -c` inside the chroot.
        case shell([String])
        /// A host script copied into the image and run there with arguments.
        case script(path: String, args: [String])
        /// A host file or directory copied into the image.
        case upload(source: String, destination: String, mode: UInt16?)
    }
    /// A stable name for the journal and the plan (`shell-1`, `script-2`… by default).
    public var name: String
    public var action: Action
    /// Environment for the step (on top of PATH, KILN_DEVICE and KILN_MOUNT_PATH).
    public var env: [String: String]
    public var timeout: Seconds

    public init(
        name: String, action: Action, env: [String: String] = [:], timeout: Seconds = Timeouts.defaultProvisionStep
    ) {
        self.name = name
        self.action = action
        self.env = env
        self.timeout = timeout
    }
}

extension ProvisionStep.Action: Codable {
    private enum CodingKeys: String, CodingKey { case shell, script, args, upload }
    private struct Upload: Codable {
        var source: String
        var destination: String
        var mode: String?
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .shell(let lines): try c.encode(lines, forKey: .shell)
        case .script(let path, let args):
            try c.encode(path, forKey: .script)
            try c.encode(args, forKey: .args)
        case .upload(let s, let d, let mode):
            try c.encode(
                Upload(source: s, destination: d, mode: mode.map { "0" + String($0, radix: 8) }), forKey: .upload)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let lines = try c.decodeIfPresent([String].self, forKey: .shell) {
            self = .shell(lines)
        } else if let path = try c.decodeIfPresent(String.self, forKey: .script) {
            self = .script(path: path, args: try c.decodeIfPresent([String].self, forKey: .args) ?? [])
        } else {
            let u = try c.decode(Upload.self, forKey: .upload)
            self = .upload(source: u.source, destination: u.destination, mode: u.mode.flatMap { UInt16($0, radix: 8) })
        }
    }
}

extension ProvisionStep {
    private enum CodingKeys: String, CodingKey { case name, shell, script, args, upload, env, timeout }

    /// Written the way the manifest spells it: the action's key sits beside name, env and timeout.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try action.encode(to: encoder)
        try c.encode(env, forKey: .env)
        try c.encode(timeout, forKey: .timeout)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name), action: try Action(from: decoder),
            env: try c.decodeIfPresent([String: String].self, forKey: .env) ?? [:],
            timeout: try c.decodeIfPresent(Seconds.self, forKey: .timeout) ?? Timeouts.defaultProvisionStep)
    }
}
