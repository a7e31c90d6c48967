/// `state:`: where the builds' journals and locks live.
extension ManifestDecoder {
    func decodeState(_ r: MappingReader) -> StateSettings {
        var out = StateSettings.local
        if let blob = r.mapping("azureBlob") {
            if let state = decodeAzureBlobState(blob) { out = .azureBlob(state) }
        } else if !r.has("azureBlob") {
            r.missing(
                "azureBlob",
                fix: "write state: {azureBlob: {account: NAME, container: NAME, prefix: PATH}}, or remove state: "
                    + "to keep the journals in the local state directory")
        }
        r.finish()
        return out
    }

    private func decodeAzureBlobState(_ r: MappingReader) -> AzureBlobState? {
        let fix = "see docs/fleet.md"
        let account = r.string("account", required: true, fix: "name the storage account; " + fix).flatMap { text in
            checked(text, path: r.child("account"), StorageAccountName.init, rule: StorageAccountName.rule)
        }
        let container = r.string("container", required: true, fix: "name the blob container; " + fix).flatMap {
            checked($0, path: r.child("container"), BlobContainerName.init, rule: BlobContainerName.rule)
        }
        let prefix = r.string("prefix").flatMap {
            checked($0, path: r.child("prefix"), BlobNamePrefix.init, rule: BlobNamePrefix.rule)
        }
        r.finish()
        guard let account, let container else { return nil }
        return AzureBlobState(account: account, container: container, prefix: prefix ?? .none)
    }

    /// `make(text)`, or an error at the text saying which rule it breaks.
    private func checked<T>(_ text: Located<String>, path: String, _ make: (String) -> T?, rule: String) -> T? {
        if let value = make(text.value) { return value }
        ctx.error(text.node, "\(path) '\(text.value)' is not valid", fix: "use \(rule)")
        return nil
    }
}
