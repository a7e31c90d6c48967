import Foundation

/// One line of the request log served at `/_emulator/requests`.
public struct RequestLogEntry: Sendable, Codable, Equatable {
    public var sequence: Int
    public var time: Date
    public var method: String
    public var host: String
    public var path: String
    public var apiVersion: String?
    /// 0 when the connection was dropped by a fault.
    public var status: Int
    public var durationMs: Int
    public var viaProxy: Bool
}

/// The most recent requests, bounded so a long benchmark does not grow memory without end.
struct RequestLog: Sendable {
    private(set) var entries: [RequestLogEntry] = []
    private var sequence = 0
    let capacity = 20_000

    mutating func nextSequence() -> Int {
        sequence += 1
        return sequence
    }

    mutating func append(_ e: RequestLogEntry) {
        entries.append(e)
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
    }

    mutating func clear() { entries.removeAll() }

    func json(since: Int) -> JSON {
        .array(
            entries.filter { $0.sequence > since }.sorted { $0.sequence < $1.sequence }.map { e in
                var o: JSON = [
                    "sequence": JSON(e.sequence), "time": .string(Timestamp.string(e.time)),
                    "method": .string(e.method),
                    "host": .string(e.host), "path": .string(e.path), "status": JSON(e.status),
                    "durationMs": JSON(e.durationMs), "viaProxy": .bool(e.viaProxy)
                ]
                o["apiVersion"] = e.apiVersion.map { .string($0) } ?? .null
                return o
            })
    }
}
