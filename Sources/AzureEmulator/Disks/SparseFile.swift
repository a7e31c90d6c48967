import Foundation

#if canImport(Glibc)
    import Glibc
    // `struct stat`'s members are attributed to whichever C module the compiler loaded the
    // header through first (Glibc or Dispatch's CDispatch, varying between builds), and
    // MemberImportVisibility wants that module imported: import both.
    #if canImport(CDispatch)
        import CDispatch
    #endif
    import CoreFoundation
#endif

/// Sparse-file primitives for disk blobs: a 30 GiB disk must cost only what was written,
/// and a copy of it must keep its holes.
///
/// All functions block; callers run them through `offloadBlocking`.
enum SparseFile {
    /// How a copy was made, for logs and the throughput measurement.
    enum CopyMethod: String, Sendable {
        /// FICLONE: the destination shares the source's extents (btrfs, xfs).
        case reflink
        /// Only the data extents (found with SEEK_DATA/SEEK_HOLE) were copied with
        /// copy_file_range; holes stay holes.
        case dataExtents
    }

    // Linux values; Glibc hides them behind _GNU_SOURCE, which Swift's importer does not set.
    private static let seekData: Int32 = 3
    private static let seekHole: Int32 = 4
    /// `_IOW(0x94, 9, int)`.
    private static let ficlone: UInt = 0x4004_9409

    private typealias CopyFileRange =
        @convention(c) (
            Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32
        ) -> Int

    /// copy_file_range(2) looked up at run time: Glibc declares it only under _GNU_SOURCE.
    /// nil when the C library lacks it (then pread/pwrite is used).
    private static let copyFileRange: CopyFileRange? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "copy_file_range") else { return nil }
        return unsafeBitCast(symbol, to: CopyFileRange.self)
    }()

    /// Creates (or replaces) `path` as a sparse file of `bytes` bytes, with no block allocated.
    static func create(at path: String, bytes: Int64) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DiskBackendError.systemCall(call: "open", path: path, errno: errno) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(bytes)) == 0 else {
            throw DiskBackendError.systemCall(call: "ftruncate", path: path, errno: errno)
        }
    }

    /// Grows `path` to `bytes` (never shrinks; a smaller `bytes` is an error).
    static func grow(at path: String, to bytes: Int64, id: String) throws {
        let current = try size(of: path)
        guard bytes >= current else {
            throw DiskBackendError.shrinkRefused(id: id, currentBytes: current, requestedBytes: bytes)
        }
        guard bytes > current else { return }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DiskBackendError.systemCall(call: "open", path: path, errno: errno) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(bytes)) == 0 else {
            throw DiskBackendError.systemCall(call: "ftruncate", path: path, errno: errno)
        }
    }

    /// The apparent size of `path` in bytes.
    static func size(of path: String) throws -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw DiskBackendError.systemCall(call: "stat", path: path, errno: errno) }
        return Int64(info.st_size)
    }

    /// The bytes actually allocated to `path` (st_blocks × 512).
    static func allocatedBytes(of path: String) throws -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw DiskBackendError.systemCall(call: "stat", path: path, errno: errno) }
        return Int64(info.st_blocks) * 512
    }

    /// Copies `source` to a new file `destination` (which must not exist), keeping holes.
    /// Tries a reflink first, then copies only the data extents.
    @discardableResult
    static func copy(from source: String, to destination: String) throws -> CopyMethod {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw DiskBackendError.systemCall(call: "open", path: source, errno: errno) }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw DiskBackendError.systemCall(call: "open", path: destination, errno: errno) }
        defer { close(output) }

        if ioctl(output, ficlone, input) == 0 { return .reflink }

        var info = stat()
        guard fstat(input, &info) == 0 else {
            throw DiskBackendError.systemCall(call: "fstat", path: source, errno: errno)
        }
        let total = Int64(info.st_size)
        // Setting the size first makes every range we do not write a hole.
        guard ftruncate(output, off_t(total)) == 0 else {
            throw DiskBackendError.systemCall(call: "ftruncate", path: destination, errno: errno)
        }
        var position: Int64 = 0
        while position < total {
            let dataStart = lseek(input, off_t(position), seekData)
            if dataStart < 0 {
                if errno == ENXIO { break }  // only a hole remains
                throw DiskBackendError.systemCall(call: "lseek(SEEK_DATA)", path: source, errno: errno)
            }
            var dataEnd = lseek(input, dataStart, seekHole)
            if dataEnd < 0 { dataEnd = off_t(total) }
            try copyRange(
                input, output, from: Int64(dataStart), count: Int64(dataEnd - dataStart),
                source: source, destination: destination)
            position = Int64(dataEnd)
        }
        return .dataExtents
    }

    private static func copyRange(
        _ input: Int32, _ output: Int32, from start: Int64, count: Int64, source: String, destination: String
    ) throws {
        var inOffset = start
        var outOffset = start
        var remaining = count
        var useKernelCopy = copyFileRange != nil
        var buffer: [UInt8] = []
        while remaining > 0 {
            let chunk = Int(min(remaining, 1 << 30))
            if useKernelCopy, let copyFileRange {
                let copied = copyFileRange(input, &inOffset, output, &outOffset, chunk, 0)
                if copied > 0 {
                    remaining -= Int64(copied)
                    continue
                }
                if copied == 0 { break }  // source shorter than expected: nothing more to copy
                // Cross-device or unsupported: fall back to plain reads and writes.
                if [EXDEV, ENOSYS, EINVAL, EOPNOTSUPP].contains(errno) {
                    useKernelCopy = false
                    continue
                }
                if errno == EINTR { continue }
                throw DiskBackendError.systemCall(call: "copy_file_range", path: destination, errno: errno)
            }
            if buffer.isEmpty { buffer = [UInt8](repeating: 0, count: 1 << 20) }
            let want = min(chunk, buffer.count)
            let got = buffer.withUnsafeMutableBytes { pread(input, $0.baseAddress, want, off_t(inOffset)) }
            if got < 0 {
                if errno == EINTR { continue }
                throw DiskBackendError.systemCall(call: "pread", path: source, errno: errno)
            }
            if got == 0 { break }
            var written = 0
            while written < got {
                let n = buffer.withUnsafeBytes {
                    pwrite(output, $0.baseAddress! + written, got - written, off_t(outOffset) + off_t(written))
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw DiskBackendError.systemCall(call: "pwrite", path: destination, errno: errno)
                }
                written += n
            }
            inOffset += Int64(got)
            outOffset += Int64(got)
            remaining -= Int64(got)
        }
    }
}
