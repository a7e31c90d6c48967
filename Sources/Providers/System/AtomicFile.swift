import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Durable, atomic replacement of a small file: readers see the old content or the new,
/// never a mix, even across a crash or power loss.
public enum AtomicFile {
    /// Writes `data` to `path` with `mode`: a temp file in the same directory, `fsync`,
    /// `rename` over `path`, then `fsync` of the directory so the rename itself is durable.
    /// On failure the temp file is removed and the old file is left as it was.
    ///
    /// Throws `AtomicFileError`.
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o600) throws {
        let directory =
            (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temp = "\(directory)/.\(name).kiln-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw AtomicFileError(path: path, operation: "create \(temp)", reason: errnoText()) }
        var succeeded = false
        defer {
            if !succeeded { unlink(temp) }
        }
        // The umask may have narrowed the mode; state it exactly.
        guard fchmod(fd, mode) == 0 else {
            close(fd)
            throw AtomicFileError(path: path, operation: "chmod", reason: errnoText())
        }
        var offset = 0
        var writeError: AtomicFileError?
        data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            while offset < bytes.count {
                let written = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    writeError = AtomicFileError(path: path, operation: "write", reason: errnoText())
                    return
                }
                offset += written
            }
        }
        if let writeError {
            close(fd)
            throw writeError
        }
        guard fsync(fd) == 0 else {
            close(fd)
            throw AtomicFileError(path: path, operation: "fsync", reason: errnoText())
        }
        close(fd)
        guard rename(temp, path) == 0 else {
            throw AtomicFileError(path: path, operation: "rename \(temp)", reason: errnoText())
        }
        succeeded = true
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            defer { close(dirFD) }
            guard fsync(dirFD) == 0 else {
                throw AtomicFileError(path: path, operation: "fsync directory \(directory)", reason: errnoText())
            }
        }
    }
}

/// An `AtomicFile.write` failure: which file, which step, and the system's reason.
public struct AtomicFileError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var reason: String

    public var description: String { "writing \(path): \(operation) failed: \(reason)" }
}

/// `write(2)`, named apart from `AtomicFile.write`, which shadows it inside the type.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
