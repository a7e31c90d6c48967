import Foundation

/// ARM pages every list: `{"value": [...], "nextLink": "…"}`, and a client follows `nextLink`
/// until a page has none (azure-rest-api.md §0; `x-ms-pageable` with `nextLinkName: nextLink`
/// in the specifications). The emulator answers `pageSize` items a page (configuration;
/// small in the tests, so a client's paging always runs), the next page's start in the
/// `$skiptoken` of its `nextLink`, as ARM's own links carry an opaque `$skiptoken`.
extension Emulator {
    func page(_ items: [JSON], _ request: EmulatorRequest) throws(ARMError) -> EmulatorResponse {
        var start = 0
        if let token = request.query["$skiptoken"] {
            guard let offset = Int(token), offset >= 0, offset <= items.count else {
                throw ARMError(400, "InvalidSkipToken", "The skip token '\(token)' is not valid for this list.")
            }
            start = offset
        }
        let end = min(items.count, start + max(1, config.pageSize))
        var body: JSON = ["value": .array(Array(items[start..<end]))]
        if end < items.count { body["nextLink"] = .string(nextLink(request, from: end)) }
        return .json(200, body)
    }

    /// The request's URL with `$skiptoken` set to `offset`, every other parameter kept.
    func nextLink(_ request: EmulatorRequest, from offset: Int) -> String {
        var parts = URLComponents()
        parts.queryItems =
            request.query.filter { $0.key != "$skiptoken" }.sorted { $0.key < $1.key }
            .map { URLQueryItem(name: $0.key, value: $0.value) } + [
                URLQueryItem(name: "$skiptoken", value: "\(offset)")
            ]
        // `'` and `$` stay as ARM writes them; spaces and the rest are escaped.
        return request.baseURL + request.path + "?" + (parts.percentEncodedQuery ?? "")
    }
}
