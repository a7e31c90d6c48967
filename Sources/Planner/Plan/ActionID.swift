import Model

/// Which disk of a build an action is about: the OS disk, or the data disk at a LUN.
public enum DiskRole: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    case os
    case data(lun: Int)

    public var description: String {
        switch self {
        case .os: "os"
        case .data(let lun): "lun\(lun)"
        }
    }

    public static func < (a: DiskRole, b: DiskRole) -> Bool {
        switch (a, b) {
        case (.os, .data): true
        case (.data(let x), .data(let y)): x < y
        default: false
        }
    }

    public init?(_ text: String) {
        if text == "os" { self = .os } else if text.hasPrefix("lun"), let n = Int(text.dropFirst(3)) { self = .data(lun: n) } else { return nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let role = DiskRole(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a disk role: \(text)"))
        }
        self = role
    }
}

/// The kinds of action in a build's DAG (see docs/architecture: resolve → disk → attach → …
/// → snapshot → image / gallery version → cleanup; the gallery and image definition beside
/// the disk work, from the start).
public enum ActionKind: String, Sendable, Hashable, Codable, CaseIterable {
    case resolveSource = "resolve-source"
    case createDisk = "create-disk"
    case attach
    case device
    case preMount = "pre-mount"
    case mount
    case postMount = "post-mount"
    case chrootMounts = "chroot-mounts"
    case copyFiles = "copy-files"
    case provision
    case preUnmount = "pre-unmount"
    case restoreFiles = "restore-files"
    case unmount
    case detach
    case snapshot
    case image
    /// The gallery and the image definition a gallery version is published into: created when
    /// missing, checked when they exist. Independent of the disk work, so it runs at the start.
    case galleryDefinition = "gallery-definition"
    case galleryVersion = "gallery-version"
    case updateGalleryVersion = "update-gallery-version"
    case replicate
    case deleteSnapshot = "delete-snapshot"
    case deleteDisk = "delete-disk"
    case releaseLeftover = "release-leftover"
    /// `kiln destroy --outputs`: the build's managed image (only one with Kiln's digest tag).
    case deleteImage = "delete-image"
    /// `kiln destroy --outputs`: the build's gallery image version (only one with Kiln's digest tag).
    case deleteGalleryVersion = "delete-gallery-version"

    /// How an action's status is derived.
    enum Nature {
        /// Leaves a durable effect: done when observed (Azure) or journaled (local steps),
        /// or when anything after it is.
        case checkpoint
        /// A condition that must hold while later actions run (attached, device present,
        /// mounted): redone after a reboot when something after it still has to run.
        case condition
        /// Undoes a condition (unmount, detach): done once it no longer holds after the
        /// work that needed it.
        case teardown
    }

    var nature: Nature {
        switch self {
        case .attach, .device, .mount, .postMount, .chrootMounts: .condition
        case .unmount, .detach: .teardown
        default: .checkpoint
        }
    }

    /// Whether the action's evidence comes only from the journal (Azure cannot see it).
    var isLocalStep: Bool {
        switch self {
        case .preMount, .postMount, .copyFiles, .provision, .preUnmount, .restoreFiles: true
        default: false
        }
    }
}

/// A stable name for an action: `build/kind[target]`, e.g. `web/provision[setup]`,
/// `web/attach[lun1]`, `web/replicate[westus2]`. Journals key their entries by it.
public struct ActionID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var build: String
    public var kind: ActionKind
    public var target: String?

    public init(build: String, kind: ActionKind, target: String? = nil) {
        self.build = build
        self.kind = kind
        self.target = target
    }

    public init(_ build: String, _ kind: ActionKind, _ role: DiskRole) {
        self.init(build: build, kind: kind, target: role.description)
    }

    public var description: String { "\(build)/\(kind.rawValue)" + (target.map { "[\($0)]" } ?? "") }

    public static func < (a: ActionID, b: ActionID) -> Bool { a.description < b.description }

    /// Parses the `description` form back.
    public init?(parsing text: String) {
        guard let slash = text.firstIndex(of: "/") else { return nil }
        let build = String(text[..<slash])
        var rest = String(text[text.index(after: slash)...])
        var target: String?
        if rest.hasSuffix("]"), let open = rest.firstIndex(of: "[") {
            target = String(rest[rest.index(after: open)..<rest.index(before: rest.endIndex)])
            rest = String(rest[..<open])
        }
        guard let kind = ActionKind(rawValue: rest) else { return nil }
        self.init(build: build, kind: kind, target: target)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = ActionID(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an action id: \(text)"))
        }
        self = id
    }
}
