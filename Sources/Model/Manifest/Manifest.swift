/// A parsed, validated and fully defaulted manifest: one or more builds and the Azure
/// settings they share. Produced by `ManifestLoader`; every field here has its final value
/// except those resolved from the builder VM at plan time (marked in their docs).
public struct Manifest: Sendable, Hashable, Codable {
    /// The path the manifest was read from (not part of the YAML).
    public var file: String
    public var azure: AzureSettings
    /// Where the builds' journals and locks live (default: the local state directory).
    public var state: StateSettings
    public var builds: [Build]

    public init(file: String, azure: AzureSettings, state: StateSettings = .local, builds: [Build]) {
        self.file = file
        self.azure = azure
        self.state = state
        self.builds = builds
    }

    private enum CodingKeys: String, CodingKey { case azure, state, builds }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        file = ""
        azure = try c.decode(AzureSettings.self, forKey: .azure)
        state = try c.decodeIfPresent(StateSettings.self, forKey: .state) ?? .local
        builds = try c.decode([Build].self, forKey: .builds)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(azure, forKey: .azure)
        if state != .local { try c.encode(state, forKey: .state) }
        try c.encode(builds, forKey: .builds)
    }
}

/// Which Azure cloud, its credentials, subscription and tenant.
public struct AzureSettings: Sendable, Hashable, Codable {
    public enum Cloud: String, Sendable, Hashable, Codable, CaseIterable {
        case `public`, china, usgovernment, custom
    }
    public var cloud: Cloud
    /// The ARM metadata endpoint of a custom cloud (`cloud: custom`).
    public var metadataEndpoint: String?
    /// nil: the builder VM's subscription, from the instance metadata service.
    public var subscription: String?
    /// nil: discovered from the subscription (ARM's `WWW-Authenticate` challenge).
    public var tenant: String?
    public var credential: CredentialSettings

    public init(
        cloud: Cloud = .public, metadataEndpoint: String? = nil, subscription: String? = nil,
        tenant: String? = nil, credential: CredentialSettings = CredentialSettings()
    ) {
        self.cloud = cloud
        self.metadataEndpoint = metadataEndpoint
        self.subscription = subscription
        self.tenant = tenant
        self.credential = credential
    }
}

/// How Kiln authenticates. Secrets are never written in the manifest: it names the
/// environment variable or file that holds them.
public struct CredentialSettings: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// environment, then managed identity, then the Azure CLI (DefaultAzureCredential's order).
        case `default`
        case environment
        case managedIdentity
        case azureCLI
        case clientSecret
        case clientCertificate
        case federatedToken
    }
    public var kind: Kind
    /// The application (client) id; for managed identity, a user-assigned identity's client id.
    public var clientId: String?
    /// The environment variable holding the client secret.
    public var clientSecretEnv: String?
    /// A PEM or PKCS#12 file with the certificate and its private key.
    public var clientCertificatePath: String?
    /// The environment variable holding the certificate's password, if it has one.
    public var clientCertificatePasswordEnv: String?
    /// A file holding a federated token (workload identity) or a pre-signed client assertion.
    public var federatedTokenFile: String?
    /// A GitHub-Actions-style OIDC token request URL and the variable holding its bearer token.
    public var oidcRequestURL: String?
    public var oidcRequestTokenEnv: String?

    public init(
        kind: Kind = .default, clientId: String? = nil, clientSecretEnv: String? = nil,
        clientCertificatePath: String? = nil, clientCertificatePasswordEnv: String? = nil,
        federatedTokenFile: String? = nil, oidcRequestURL: String? = nil, oidcRequestTokenEnv: String? = nil
    ) {
        self.kind = kind
        self.clientId = clientId
        self.clientSecretEnv = clientSecretEnv
        self.clientCertificatePath = clientCertificatePath
        self.clientCertificatePasswordEnv = clientCertificatePasswordEnv
        self.federatedTokenFile = federatedTokenFile
        self.oidcRequestURL = oidcRequestURL
        self.oidcRequestTokenEnv = oidcRequestTokenEnv
    }
}

/// One image build: where the disk comes from, how it is mounted and provisioned, and what
/// is published.
public struct Build: Sendable, Hashable, Codable {
    public var name: String
    public var source: Source
    public var disk: DiskSettings
    public var mount: MountSettings
    public var provision: [ProvisionStep]
    public var outputs: Outputs
    /// Tags put on temporary and output resources (Kiln adds its own `kiln:*` tags).
    public var tags: [String: String]
    public var temporary: TemporarySettings
    public var timeouts: Timeouts

    public init(
        name: String, source: Source, disk: DiskSettings = DiskSettings(), mount: MountSettings,
        provision: [ProvisionStep] = [], outputs: Outputs, tags: [String: String] = [:],
        temporary: TemporarySettings = TemporarySettings(), timeouts: Timeouts = Timeouts()
    ) {
        self.name = name
        self.source = source
        self.disk = disk
        self.mount = mount
        self.provision = provision
        self.outputs = outputs
        self.tags = tags
        self.temporary = temporary
        self.timeouts = timeouts
    }
}

/// Where the working OS disk comes from. The kind is explicit in the YAML.
public enum Source: Sendable, Hashable {
    /// A platform (marketplace) image; `latest` is resolved at plan time.
    case platformImage(PlatformImageURN)
    /// A copy of an existing managed disk, by resource id (templates allowed, rendered at plan time).
    case disk(String)
    /// A gallery image version by resource id (its data disks can be copied too).
    case galleryImageVersion(String)
    /// An empty disk of `sizeGB`, partitioned and formatted by `mount.preMountCommands`.
    case scratch(sizeGB: Int)

    public var kind: SourceKind {
        switch self {
        case .platformImage: .platformImage
        case .disk: .disk
        case .galleryImageVersion: .galleryImageVersion
        case .scratch: .scratch
        }
    }

    public var kindName: String { kind.rawValue }
}

extension Source: Codable {
    private enum CodingKeys: String, CodingKey { case platformImage, disk, galleryImageVersion, scratch }
    private struct Scratch: Codable { var sizeGB: Int }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .platformImage(let urn): try c.encode(urn.description, forKey: .platformImage)
        case .disk(let id): try c.encode(id, forKey: .disk)
        case .galleryImageVersion(let id): try c.encode(id, forKey: .galleryImageVersion)
        case .scratch(let size): try c.encode(Scratch(sizeGB: size), forKey: .scratch)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let urn = try c.decodeIfPresent(String.self, forKey: .platformImage) {
            self = .platformImage(try PlatformImageURN(parsing: urn))
        } else if let id = try c.decodeIfPresent(String.self, forKey: .disk) {
            self = .disk(id)
        } else if let id = try c.decodeIfPresent(String.self, forKey: .galleryImageVersion) {
            self = .galleryImageVersion(id)
        } else {
            self = .scratch(sizeGB: try c.decode(Scratch.self, forKey: .scratch).sizeGB)
        }
    }
}

public enum StorageAccountType: String, Sendable, Hashable, Codable, CaseIterable {
    case standardLRS = "Standard_LRS"
    case premiumLRS = "Premium_LRS"
    case standardSSDLRS = "StandardSSD_LRS"
    case ultraSSDLRS = "UltraSSD_LRS"
    case premiumZRS = "Premium_ZRS"
    case standardSSDZRS = "StandardSSD_ZRS"
    case premiumV2LRS = "PremiumV2_LRS"
}

/// Replica storage of a gallery image version in one region.
public enum ReplicaStorageType: String, Sendable, Hashable, Codable, CaseIterable {
    case standardLRS = "Standard_LRS"
    case standardZRS = "Standard_ZRS"
    case premiumLRS = "Premium_LRS"
}

public enum CacheType: String, Sendable, Hashable, Codable, CaseIterable {
    case none = "None"
    case readOnly = "ReadOnly"
    case readWrite = "ReadWrite"
}

public enum HyperVGeneration: String, Sendable, Hashable, Codable, CaseIterable {
    case v1 = "V1"
    case v2 = "V2"
}

/// The working OS disk and any data disks.
public struct DiskSettings: Sendable, Hashable, Codable {
    /// Grow the OS disk to this size; nil keeps the source's size. Never shrinks.
    public var sizeGB: Int?
    public var storageAccountType: StorageAccountType
    /// Host caching recorded on the published image's OS disk and the gallery version.
    public var cacheType: CacheType
    /// nil: inherit from the source (platform and gallery images say theirs); V1 for scratch.
    public var hyperVGeneration: HyperVGeneration?
    /// nil: the builder VM's zone (Azure refuses to attach a regional disk to a zonal VM).
    public var zone: String?
    public var dataDisks: [DataDisk]
    /// nil: `TrustedLaunch` when the source supports it and the generation is V2 (and no
    /// managed image is published, which cannot boot it), else `Standard`; resolved at plan time.
    public var securityType: SecurityType?
    /// The disk encryption set (resource id) of the temporary disks.
    public var diskEncryptionSetId: String?

    public init(
        sizeGB: Int? = nil, storageAccountType: StorageAccountType = .standardLRS, cacheType: CacheType = .readOnly,
        hyperVGeneration: HyperVGeneration? = nil, zone: String? = nil, dataDisks: [DataDisk] = [],
        securityType: SecurityType? = nil, diskEncryptionSetId: String? = nil
    ) {
        self.sizeGB = sizeGB
        self.storageAccountType = storageAccountType
        self.cacheType = cacheType
        self.hyperVGeneration = hyperVGeneration
        self.zone = zone
        self.dataDisks = dataDisks
        self.securityType = securityType
        self.diskEncryptionSetId = diskEncryptionSetId
    }
}

/// A data disk built and published alongside the OS disk, at a fixed LUN of the image.
public struct DataDisk: Sendable, Hashable, Codable {
    public enum Origin: String, Sendable, Hashable, Codable, CaseIterable {
        /// An empty disk of `sizeGB`.
        case empty
        /// The gallery source's data disk image at the same LUN.
        case source
    }
    public var lun: Int
    public var origin: Origin
    public var sizeGB: Int?
    public var storageAccountType: StorageAccountType
    public var cacheType: CacheType
    /// Where to mount it inside the image root while provisioning, if at all.
    public var mountPath: String?
    /// The partition to mount.
    public var partition: Partition

    public init(
        lun: Int, origin: Origin = .empty, sizeGB: Int? = nil, storageAccountType: StorageAccountType = .standardLRS,
        cacheType: CacheType = .readOnly, mountPath: String? = nil, partition: Partition = .whole
    ) {
        self.lun = lun
        self.origin = origin
        self.sizeGB = sizeGB
        self.storageAccountType = storageAccountType
        self.cacheType = cacheType
        self.mountPath = mountPath
        self.partition = partition
    }
}

/// One mount made inside the image root before provisioning (`mount -t type source root/target`,
/// or `mount --bind` when type is `bind`).
public struct ChrootMount: Sendable, Hashable, Codable {
    public var type: String
    public var source: String
    public var target: String
    public init(type: String, source: String, target: String) {
        self.type = type
        self.source = source
        self.target = target
    }

    public static let defaults: [ChrootMount] = [
        ChrootMount(type: "proc", source: "proc", target: "/proc"),
        ChrootMount(type: "sysfs", source: "sysfs", target: "/sys"),
        ChrootMount(type: "bind", source: "/dev", target: "/dev"),
        ChrootMount(type: "devpts", source: "devpts", target: "/dev/pts"),
        ChrootMount(type: "binfmt_misc", source: "binfmt_misc", target: "/proc/sys/fs/binfmt_misc")
    ]
}

/// How the working disk is mounted and prepared for the chroot.
public struct MountSettings: Sendable, Hashable, Codable {
    /// The partition holding the root filesystem (Packer's default, 1), or the whole disk.
    public var partition: Partition
    /// A template; `{{.BuildName}}` and `{{.Device}}` are available.
    public var path: String
    public var options: [String]
    /// The root logical volume when the image's root is on LVM.
    public var lvmRootDevice: String?
    /// Replaces Kiln's own mount of the root; receives the device and mount path.
    public var manualMountCommand: String?
    public var preMountCommands: [String]
    public var postMountCommands: [String]
    public var preUnmountCommands: [String]
    public var chrootMounts: [ChrootMount]
    /// Host files copied into the image for the build and restored to what the image had afterwards.
    public var copyFiles: [String]
    /// A template wrapping every host command; `{{.Command}}` is the command.
    public var commandWrapper: String
    /// Whether provisioning may run emulated when the image's architecture is not the VM's;
    /// nil is `auto` (kept optional so that manifests without it keep their digest).
    public var emulation: Emulation?
    public var emulationMode: Emulation { emulation ?? .auto }

    public static let defaultPath = "/mnt/kiln/{{.BuildName}}"

    public init(
        partition: Partition = .number(1), path: String = MountSettings.defaultPath, options: [String] = [],
        lvmRootDevice: String? = nil,
        manualMountCommand: String? = nil, preMountCommands: [String] = [], postMountCommands: [String] = [],
        preUnmountCommands: [String] = [], chrootMounts: [ChrootMount] = ChrootMount.defaults,
        copyFiles: [String] = ["/etc/resolv.conf"], commandWrapper: String = "{{.Command}}"
    ) {
        self.partition = partition
        self.path = path
        self.options = options
        self.lvmRootDevice = lvmRootDevice
        self.manualMountCommand = manualMountCommand
        self.preMountCommands = preMountCommands
        self.postMountCommands = postMountCommands
        self.preUnmountCommands = preUnmountCommands
        self.chrootMounts = chrootMounts
        self.copyFiles = copyFiles
        self.commandWrapper = commandWrapper
    }
}

/// Temporary disks and snapshots.
public struct TemporarySettings: Sendable, Hashable, Codable {
    /// nil: the builder VM's resource group.
    public var resourceGroup: String?
    /// Keep temporary disks and snapshots after a successful build (Packer's `skip_cleanup`).
    public var keep: Bool
    public init(resourceGroup: String? = nil, keep: Bool = false) {
        self.resourceGroup = resourceGroup
        self.keep = keep
    }
}

/// How long Kiln waits for things before it gives up with an error.
public struct Timeouts: Sendable, Hashable, Codable {
    public static let defaultProvisionStep = Seconds(3600)
    /// For an attached disk's device to appear.
    public var deviceWait: Seconds
    /// For one Azure operation (disk, snapshot, image, attach, detach, delete).
    public var azureOperation: Seconds
    /// For a gallery version to replicate to every target region.
    public var replication: Seconds
    /// Default for each provisioning step.
    public var provisionStep: Seconds

    public init(
        deviceWait: Seconds = Seconds(180), azureOperation: Seconds = Seconds(1800),
        replication: Seconds = Seconds(4 * 3600), provisionStep: Seconds = Timeouts.defaultProvisionStep
    ) {
        self.deviceWait = deviceWait
        self.azureOperation = azureOperation
        self.replication = replication
        self.provisionStep = provisionStep
    }
}

/// Which part of a disk to mount: a partition number, or the whole disk.
public enum Partition: Sendable, Hashable, Codable, CustomStringConvertible {
    case number(Int)
    case whole

    public var description: String {
        switch self {
        case .number(let n): String(n)
        case .whole: "whole"
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let n): try c.encode(n)
        case .whole: try c.encode("whole")
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int.self) { self = n == 0 ? .whole : .number(n) } else { self = .whole }
    }
}
