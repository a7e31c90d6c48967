import Foundation

/// What `x-ms-lease-action` asks for.
enum BlobLeaseAction: String, Sendable {
    case acquire, renew, change, release, `break`
}

/// Lease Blob (`PUT ?comp=lease`): the outcomes of each action in each lease state follow the
/// table of Microsoft's "Lease Blob" page; the codes follow its error code table.
extension Emulator {
    func leaseBlob(_ request: EmulatorRequest, _ key: BlobContainerKey, _ name: String, now: Date) throws
        -> EmulatorResponse
    {
        var c = try container(key)
        guard var blob = c.blobs[name] else { throw BlobError.blobNotFound }
        guard let raw = request.header("x-ms-lease-action") else { throw BlobError.missingHeader("x-ms-lease-action") }
        guard let action = BlobLeaseAction(rawValue: raw.lowercased()) else {
            throw BlobError.invalidHeader("x-ms-lease-action", raw)
        }
        try checkConditions(request, blob, write: true)
        let sentID = request.header("x-ms-lease-id")?.lowercased()
        var lease = blob.lease
        let state = lease.state(at: now)
        let matches = sentID != nil && sentID == lease.id?.lowercased()
        var status = 200
        var headers: [(String, String)] = []

        func requireLeaseID() throws(BlobError) -> String {
            guard let sentID else { throw BlobError.missingHeader("x-ms-lease-id") }
            guard UUID(uuidString: sentID) != nil else { throw BlobError.invalidHeader("x-ms-lease-id", sentID) }
            return sentID
        }

        switch action {
        case .acquire:
            guard let d = request.header("x-ms-lease-duration") else {
                throw BlobError.missingHeader("x-ms-lease-duration")
            }
            guard let seconds = Int(d), seconds == -1 || (15...60).contains(seconds) else {
                throw BlobError.invalidHeader("x-ms-lease-duration", d)
            }
            let proposed = request.header("x-ms-proposed-lease-id")?.lowercased()
            if let proposed, UUID(uuidString: proposed) == nil {
                throw BlobError.invalidHeader("x-ms-proposed-lease-id", proposed)
            }
            switch state {
            case .leased where proposed == nil || proposed != lease.id?.lowercased():
                throw BlobError.leaseAlreadyPresent
            case .breaking:
                throw proposed != nil && proposed == lease.id?.lowercased()
                    ? BlobError.leaseIsBreakingAndCannotBeAcquired : BlobError.leaseAlreadyPresent
            default:
                let id = (state == .leased ? lease.id : nil) ?? proposed ?? UUID().uuidString.lowercased()
                lease = BlobLease(
                    phase: .leased, id: id, durationSeconds: seconds == -1 ? nil : seconds,
                    endsAt: seconds == -1 ? nil : now.addingTimeInterval(TimeInterval(seconds)))
                status = 201
            }
        case .renew:
            _ = try requireLeaseID()
            switch state {
            case .available: throw BlobError.leaseNotPresentWithLeaseOperation
            case _ where !matches: throw BlobError.leaseIdMismatchWithLeaseOperation
            case .breaking, .broken: throw BlobError.leaseIsBrokenAndCannotBeRenewed
            case .expired where blob.lastModified > (lease.endsAt ?? now):
                // Renewing an expired lease works only while the blob is unchanged since.
                throw BlobError.leaseNotPresentWithLeaseOperation
            case .leased, .expired:
                lease.phase = .leased
                lease.endsAt = lease.durationSeconds.map { now.addingTimeInterval(TimeInterval($0)) }
            }
        case .change:
            let current = try requireLeaseID()
            guard let proposed = request.header("x-ms-proposed-lease-id")?.lowercased() else {
                throw BlobError.missingHeader("x-ms-proposed-lease-id")
            }
            guard UUID(uuidString: proposed) != nil else {
                throw BlobError.invalidHeader("x-ms-proposed-lease-id", proposed)
            }
            switch state {
            case .available, .expired, .broken: throw BlobError.leaseNotPresentWithLeaseOperation
            case .breaking:
                throw matches
                    ? BlobError.leaseIsBreakingAndCannotBeChanged : BlobError.leaseIdMismatchWithLeaseOperation
            case .leased:
                // Changing to the id it already has succeeds, so a retried change is harmless.
                guard current == lease.id?.lowercased() || proposed == lease.id?.lowercased() else {
                    throw BlobError.leaseIdMismatchWithLeaseOperation
                }
                lease.id = proposed
            }
        case .release:
            _ = try requireLeaseID()
            guard state != .available else { throw BlobError.leaseNotPresentWithLeaseOperation }
            guard matches else { throw BlobError.leaseIdMismatchWithLeaseOperation }
            lease = BlobLease()
        case .break:
            var period: Int?
            if let p = request.header("x-ms-lease-break-period") {
                guard let v = Int(p), (0...60).contains(v) else {
                    throw BlobError.invalidHeader("x-ms-lease-break-period", p)
                }
                period = v
            }
            switch state {
            case .available, .expired: throw BlobError.leaseNotPresentWithLeaseOperation
            case .broken:
                lease.phase = .broken
                lease.endsAt = nil
            case .leased, .breaking:
                // Without a period a fixed lease breaks when it would have expired, an infinite
                // one at once; a period never extends what is left.
                let remaining = lease.endsAt.map { max(0, Int($0.timeIntervalSince(now).rounded(.up))) }
                var seconds = period ?? remaining ?? 0
                if let remaining, state == .breaking || period != nil { seconds = min(seconds, remaining) }
                if seconds == 0 {
                    lease.phase = .broken
                    lease.endsAt = nil
                } else {
                    lease.phase = .breaking
                    lease.endsAt = now.addingTimeInterval(TimeInterval(seconds))
                }
            }
            status = 202
            let left = lease.phase == .breaking ? Int((lease.endsAt ?? now).timeIntervalSince(now).rounded(.up)) : 0
            headers.append(("x-ms-lease-time", String(left)))
        }
        if action != .break && action != .release, let id = lease.id { headers.append(("x-ms-lease-id", id)) }
        blob.lease = lease
        c.blobs[name] = blob
        blobStore.containers[key.id] = c
        try blobStore.save()
        headers += [("ETag", blob.etag.quoted), ("Last-Modified", BlobDate.rfc1123(blob.lastModified))]
        return .empty(status, headers: headers)
    }
}
