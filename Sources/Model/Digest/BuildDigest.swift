import Crypto
import Foundation

/// The content digest of a build: a SHA-256 over everything that determines the image —
/// the resolved source, disk and mount settings, and every provisioning step with the bytes
/// of its scripts and uploaded files. Names, outputs, tags, placement (zone, resource
/// group) and timeouts are left out: changing them does not change what is inside the image.
///
/// Outputs carry `value` as their `kiln:digest` tag; `components` lets a plan say which
/// part changed ("provision[harden]: scripts/harden.sh edited").
public struct BuildDigest: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `sha256:<64 hex>`.
    public var value: String
    /// Per-part digests, in build order: `source`, `disk`, `mount`, `provision[<name>]`.
    public var components: [Component]

    public struct Component: Sendable, Hashable, Codable {
        public var name: String
        public var digest: String
        /// Host files this part read, for "edited" explanations.
        public var files: [String]
    }

    public var description: String { value }

    /// The short form shown in plans: the first 12 hex digits.
    public var short: String { String(value.dropFirst("sha256:".count).prefix(12)) }

    /// The component names whose digests differ from `older`'s (added and removed ones included).
    public func changedComponents(since older: BuildDigest) -> [Component] {
        let before = Dictionary(older.components.map { ($0.name, $0.digest) }, uniquingKeysWith: { a, _ in a })
        return components.filter { before[$0.name] != $0.digest }
    }
}

/// Why a digest could not be computed (a file vanished or cannot be read since validation).
public struct DigestError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "cannot read \(path) for the build digest: \(reason)" }
}

extension BuildDigest {
    static let format = "kiln-digest/1"

    /// Computes the digest. Relative paths resolve against `baseDirectory`; `resolvedSource`
    /// replaces a platform image's `latest` with the concrete version when it is known;
    /// templates are rendered with `values` (instance metadata left as written when absent).
    public static func compute(
        for build: Build, baseDirectory: URL, resolvedPlatformVersion: String? = nil,
        values: TemplateValues = TemplateValues()
    ) throws(DigestError) -> BuildDigest {
        var components: [Component] = []
        var vars = values
        vars.variables["BuildName"] = build.name

        let source: String
        switch build.source {
        case .platformImage(let urn):
            source =
                "platformImage:"
                + (resolvedPlatformVersion.map { urn.resolved(to: $0) } ?? urn).description.lowercased()
        case .disk(let id): source = "disk:" + render(id, vars).lowercased()
        case .galleryImageVersion(let id): source = "galleryImageVersion:" + render(id, vars).lowercased()
        case .scratch(let size): source = "scratch:\(size)"
        }
        components.append(Component(name: "source", digest: hash([format, source]), files: []))

        var disk = build.disk
        disk.zone = nil
        components.append(Component(name: "disk", digest: hash(canonical(disk)), files: []))

        var mount = build.mount
        mount.path = render(mount.path, vars)
        components.append(Component(name: "mount", digest: hash(canonical(mount)), files: []))

        for step in build.provision {
            var h = SHA256()
            var files: [String] = []
            feed(&h, "step")
            for (k, v) in step.env.sorted(by: { $0.key < $1.key }) {
                feed(&h, "env")
                feed(&h, k)
                feed(&h, render(v, vars))
            }
            switch step.action {
            case .shell(let lines):
                feed(&h, "shell")
                for line in lines { feed(&h, render(line, vars)) }
            case .script(let path, let args):
                feed(&h, "script")
                for a in args { feed(&h, render(a, vars)) }
                let url = resolve(path, baseDirectory)
                try feedFile(&h, url, label: path)
                files.append(path)
            case .upload(let source, let destination, let mode):
                feed(&h, "upload")
                feed(&h, destination)
                feed(&h, mode.map { String($0, radix: 8) } ?? "keep")
                try feedTree(&h, resolve(source, baseDirectory), label: source)
                files.append(source)
            }
            components.append(Component(name: "provision[\(step.name)]", digest: hex(h.finalize()), files: files))
        }

        var total = SHA256()
        feed(&total, format)
        for c in components {
            feed(&total, c.name)
            feed(&total, c.digest)
        }
        return BuildDigest(value: "sha256:" + hex(total.finalize()), components: components)
    }

    private static func resolve(_ path: String, _ base: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
    }

    private static func render(_ text: String, _ values: TemplateValues) -> String {
        guard let t = try? Template(parsing: text, allowed: ["BuildName", "Device", "MountPath", "Command"]) else {
            return text
        }
        // Device and MountPath differ per run, not per image: keep them as written.
        var v = values
        v.variables["Device"] = nil
        v.variables["MountPath"] = nil
        return (try? t.render(v, mode: .plain, keepUnresolved: true)) ?? text
    }

    /// Length-prefixed, so that ("ab","c") and ("a","bc") hash differently.
    private static func feed(_ h: inout SHA256, _ text: String) {
        let bytes = Array(text.utf8)
        var n = UInt64(bytes.count).bigEndian
        withUnsafeBytes(of: &n) { h.update(bufferPointer: $0) }
        h.update(data: bytes)
    }

    private static func feedFile(_ h: inout SHA256, _ url: URL, label: String) throws(DigestError) {
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            throw DigestError(path: label, reason: "it does not exist or cannot be opened")
        }
        defer { try? handle.close() }
        var size: UInt64 = 0
        var chunks = SHA256()
        while true {
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 20) } catch {
                throw DigestError(path: label, reason: "\(error)")
            }
            guard let chunk, !chunk.isEmpty else { break }
            size += UInt64(chunk.count)
            chunks.update(data: chunk)
        }
        feed(&h, "file")
        feed(&h, String(size))
        feed(&h, hex(chunks.finalize()))
    }

    /// A file, or a directory walked in sorted order with each entry's relative path, kind,
    /// permission bits and content (symlinks by their target).
    private static func feedTree(_ h: inout SHA256, _ url: URL, label: String) throws(DigestError) {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DigestError(path: label, reason: "it does not exist")
        }
        guard isDirectory.boolValue else {
            feed(&h, "mode:" + permissions(url.path))
            try feedFile(&h, url, label: label)
            return
        }
        guard let entries = fm.subpaths(atPath: url.path) else {
            throw DigestError(path: label, reason: "the directory cannot be listed")
        }
        for relative in entries.sorted() {
            let full = url.appendingPathComponent(relative)
            feed(&h, "entry")
            feed(&h, relative)
            feed(&h, "mode:" + permissions(full.path))
            if let target = try? fm.destinationOfSymbolicLink(atPath: full.path) {
                feed(&h, "symlink")
                feed(&h, target)
                continue
            }
            var dir: ObjCBool = false
            _ = fm.fileExists(atPath: full.path, isDirectory: &dir)
            if dir.boolValue { feed(&h, "dir") } else { try feedFile(&h, full, label: "\(label)/\(relative)") }
        }
    }

    private static func permissions(_ path: String) -> String {
        let mode = ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int) ?? 0
        return String(mode & 0o7777, radix: 8)
    }

    private static func canonical<T: Encodable>(_ value: T) -> [String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data()
        return [format, String(decoding: data, as: UTF8.self)]
    }

    /// The hex SHA-256 of `text`'s UTF-8 bytes (for names derived from digests).
    public static func sha256Hex(_ text: String) -> String { hex(SHA256.hash(data: Array(text.utf8))) }

    private static func hash(_ parts: [String]) -> String {
        var h = SHA256()
        for p in parts { feed(&h, p) }
        return hex(h.finalize())
    }

    private static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
