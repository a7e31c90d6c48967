import Foundation

/// An Azure Storage error answer: a status, `x-ms-error-code`, and the XML `<Error>` body whose
/// message ends with the request id and time (Blob service error codes table).
struct BlobError: Error, Sendable {
    var status: Int
    var code: String
    var message: String
    var headers: [(String, String)] = []
    /// Extra elements of the body (`<HeaderName>` of a missing header, `<AuthenticationErrorDetail>`).
    var details: [(String, String)] = []

    init(
        _ status: Int, _ code: String, _ message: String, headers: [(String, String)] = [],
        details: [(String, String)] = []
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.details = details
    }

    func response(requestID: String, now: Date, head: Bool) -> EmulatorResponse {
        let text = "\(message)\nRequestId:\(requestID)\nTime:\(BlobDate.iso(now))"
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>\(code.xmlEscaped)</Code>"
        xml += "<Message>\(text.xmlEscaped)</Message>"
        for (name, value) in details { xml += "<\(name)>\(value.xmlEscaped)</\(name)>" }
        xml += "</Error>"
        var h = headers + [("x-ms-error-code", code)]
        // A HEAD answer carries no body; the code travels in the header only.
        if head { return EmulatorResponse(status: status, headers: h) }
        h.append(("Content-Type", "application/xml"))
        return EmulatorResponse(status: status, headers: h, body: Data(xml.utf8))
    }

    // The codes and messages of Microsoft's "Blob service error codes" and "Common REST API
    // error codes" tables.
    static let containerNotFound = BlobError(404, "ContainerNotFound", "The specified container does not exist.")
    static let containerAlreadyExists = BlobError(
        409, "ContainerAlreadyExists", "The specified container already exists.")
    static let blobNotFound = BlobError(404, "BlobNotFound", "The specified blob does not exist.")
    static let blobAlreadyExists = BlobError(409, "BlobAlreadyExists", "The specified blob already exists.")
    static let conditionNotMet = BlobError(
        412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
    static let leaseIdMissing = BlobError(
        412, "LeaseIdMissing",
        "There is currently a lease on the blob and no lease ID was specified in the request.")
    static let leaseIdMismatchWithBlobOperation = BlobError(
        412, "LeaseIdMismatchWithBlobOperation", "The lease ID specified did not match the lease ID for the blob.")
    static let leaseNotPresentWithBlobOperation = BlobError(
        412, "LeaseNotPresentWithBlobOperation", "There is currently no lease on the blob.")
    static let leaseAlreadyPresent = BlobError(409, "LeaseAlreadyPresent", "There is already a lease present.")
    static let leaseIdMismatchWithLeaseOperation = BlobError(
        409, "LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID for the blob.")
    static let leaseNotPresentWithLeaseOperation = BlobError(
        409, "LeaseNotPresentWithLeaseOperation", "There is currently no lease on the blob.")
    static let leaseIsBrokenAndCannotBeRenewed = BlobError(
        409, "LeaseIsBrokenAndCannotBeRenewed",
        "The lease ID matched, but the lease has been broken explicitly and cannot be renewed.")
    static let leaseIsBreakingAndCannotBeAcquired = BlobError(
        409, "LeaseIsBreakingAndCannotBeAcquired",
        "The lease ID matched, but the lease is currently in breaking state and cannot be acquired until it is broken."
    )
    static let leaseIsBreakingAndCannotBeChanged = BlobError(
        409, "LeaseIsBreakingAndCannotBeChanged",
        "The lease ID matched, but the lease is currently in breaking state and cannot be changed.")

    static func missingHeader(_ name: String) -> BlobError {
        BlobError(
            400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.",
            details: [("HeaderName", name)])
    }

    static func invalidHeader(_ name: String, _ value: String) -> BlobError {
        BlobError(
            400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.",
            details: [("HeaderName", name), ("HeaderValue", value)])
    }

    static func invalidQuery(_ name: String, _ value: String) -> BlobError {
        BlobError(
            400, "OutOfRangeQueryParameterValue",
            "One of the query parameters specified in the request URI is outside the permissible range.",
            details: [("QueryParameterName", name), ("QueryParameterValue", value)])
    }
}
