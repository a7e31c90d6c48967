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
        if text == "os" {
            self = .os
        } else if text.hasPrefix("lun"), let n = Int(text.dropFirst(3)) {
            self = .data(lun: n)
        } else {
            return nil
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let role = DiskRole(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a disk role: \(text)"))
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
    case takeOver = "take-over"
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

/// What an action does, with the data that names it: the disk (`DiskRole`), the provisioning
/// step, the region or the leftover disk. Made by the planner; executors switch over it, so
/// a new kind of action is a new case the compiler points out everywhere it must be handled.
public enum ActionStep: Sendable, Hashable {
    case resolveSource
    case createDisk(DiskRole)
    /// Detaching the disk from another VM that left it attached (remote state: that VM's
    /// lease on the build ended).
    case takeOver(DiskRole)
    case attach(DiskRole)
    case device(DiskRole)
    case preMount
    case mount
    case postMount
    case chrootMounts
    case copyFiles
    /// The provisioning step with this name in the manifest.
    case provision(step: String)
    case preUnmount
    case restoreFiles
    case unmount
    case detach(DiskRole)
    case image
    case galleryDefinition
    case galleryVersion
    case updateGalleryVersion
    /// Replication of the gallery version to this target region (as the manifest names it).
    case replicate(region: String)
    case deleteSnapshot(DiskRole)
    case deleteDisk(DiskRole)
    /// A disk of an earlier run of the build, by its name.
    case releaseLeftover(disk: String)
    case deleteImage
    case deleteGalleryVersion

    public var kind: ActionKind {
        switch self {
        case .resolveSource: .resolveSource
        case .createDisk: .createDisk
        case .takeOver: .takeOver
        case .attach: .attach
        case .device: .device
        case .preMount: .preMount
        case .mount: .mount
        case .postMount: .postMount
        case .chrootMounts: .chrootMounts
        case .copyFiles: .copyFiles
        case .provision: .provision
        case .preUnmount: .preUnmount
        case .restoreFiles: .restoreFiles
        case .unmount: .unmount
        case .detach: .detach
        case .image: .image
        case .galleryDefinition: .galleryDefinition
        case .galleryVersion: .galleryVersion
        case .updateGalleryVersion: .updateGalleryVersion
        case .replicate: .replicate
        case .deleteSnapshot: .deleteSnapshot
        case .deleteDisk: .deleteDisk
        case .releaseLeftover: .releaseLeftover
        case .deleteImage: .deleteImage
        case .deleteGalleryVersion: .deleteGalleryVersion
        }
    }

    /// The disk the action is about, for the kinds that are about one disk.
    public var diskRole: DiskRole? {
        switch self {
        case .createDisk(let role), .takeOver(let role), .attach(let role), .device(let role), .detach(let role),
            .deleteSnapshot(let role), .deleteDisk(let role):
            role
        default:
            nil
        }
    }

    /// The bracketed part of the action id (`os`, `lun1`, a step name, a region, a disk name).
    public var target: String? {
        switch self {
        case .createDisk(let role), .takeOver(let role), .attach(let role), .device(let role), .detach(let role),
            .deleteSnapshot(let role), .deleteDisk(let role):
            role.description
        case .provision(let step): step
        case .replicate(let region): region
        case .releaseLeftover(let disk): disk
        case .resolveSource, .preMount, .mount, .postMount, .chrootMounts, .copyFiles, .preUnmount, .restoreFiles,
            .unmount, .image, .galleryDefinition, .galleryVersion, .updateGalleryVersion, .deleteImage,
            .deleteGalleryVersion:
            nil
        }
    }

    /// The step of `kind` named by `target` (the bracketed part of an action id); nil when
    /// the target does not fit the kind (a disk kind without `os`/`lunN`, a target where the
    /// kind takes none, none where it takes one).
    public init?(kind: ActionKind, target: String?) {
        func role(_ make: (DiskRole) -> ActionStep) -> ActionStep? { target.flatMap { DiskRole($0) }.map(make) }
        func named(_ make: (String) -> ActionStep) -> ActionStep? {
            guard let target, !target.isEmpty else { return nil }
            return make(target)
        }
        func plain(_ step: ActionStep) -> ActionStep? { target == nil ? step : nil }
        let step: ActionStep? =
            switch kind {
            case .resolveSource: plain(.resolveSource)
            case .createDisk: role(ActionStep.createDisk)
            case .takeOver: role(ActionStep.takeOver)
            case .attach: role(ActionStep.attach)
            case .device: role(ActionStep.device)
            case .preMount: plain(.preMount)
            case .mount: plain(.mount)
            case .postMount: plain(.postMount)
            case .chrootMounts: plain(.chrootMounts)
            case .copyFiles: plain(.copyFiles)
            case .provision: named { .provision(step: $0) }
            case .preUnmount: plain(.preUnmount)
            case .restoreFiles: plain(.restoreFiles)
            case .unmount: plain(.unmount)
            case .detach: role(ActionStep.detach)
            case .image: plain(.image)
            case .galleryDefinition: plain(.galleryDefinition)
            case .galleryVersion: plain(.galleryVersion)
            case .updateGalleryVersion: plain(.updateGalleryVersion)
            case .replicate: named { .replicate(region: $0) }
            case .deleteSnapshot: role(ActionStep.deleteSnapshot)
            case .deleteDisk: role(ActionStep.deleteDisk)
            case .releaseLeftover: named { .releaseLeftover(disk: $0) }
            case .deleteImage: plain(.deleteImage)
            case .deleteGalleryVersion: plain(.deleteGalleryVersion)
            }
        guard let step else { return nil }
        self = step
    }
}

/// A stable name for an action: `build/kind[target]`, e.g. `web/provision[setup]`,
/// `web/attach[lun1]`, `web/replicate[westus2]`. Journals key their entries by it.
public struct ActionID: Sendable, Hashable, Comparable, TextCodable {
    public var build: String
    public var step: ActionStep

    public init(build: String, step: ActionStep) {
        self.build = build
        self.step = step
    }

    public init(_ build: String, _ step: ActionStep) {
        self.init(build: build, step: step)
    }

    public var kind: ActionKind { step.kind }
    /// The bracketed part of the printed form, when the kind has one.
    public var target: String? { step.target }

    public var description: String { "\(build)/\(kind.rawValue)" + (target.map { "[\($0)]" } ?? "") }

    public static func < (a: ActionID, b: ActionID) -> Bool { a.description < b.description }

    /// Parses the `description` form back; nil when it names no action kind, or a target
    /// that does not fit the kind.
    public init?(parsing text: String) {
        guard let slash = text.firstIndex(of: "/") else { return nil }
        let build = String(text[..<slash])
        var rest = String(text[text.index(after: slash)...])
        var target: String?
        if rest.hasSuffix("]"), let open = rest.firstIndex(of: "[") {
            target = String(rest[rest.index(after: open)..<rest.index(before: rest.endIndex)])
            rest = String(rest[..<open])
        }
        guard let kind = ActionKind(rawValue: rest), let step = ActionStep(kind: kind, target: target) else {
            return nil
        }
        self.init(build: build, step: step)
    }

    public static let textCodingName = "an action id"
}
