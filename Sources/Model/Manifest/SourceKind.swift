/// The four kinds of `source`, each a key of its own (the kind is explicit, never guessed
/// from the string). The decoder and `kiln schema` both list them from here.
public enum SourceKind: String, Sendable, Hashable, CaseIterable {
    case platformImage
    case disk
    case galleryImageVersion
    case scratch
}
