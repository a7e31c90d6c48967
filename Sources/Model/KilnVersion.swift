/// Kiln's version: `kiln --version`, and the `User-Agent` of every Azure request
/// (`kiln/<version>`, the product/version form Azure's guidance asks for).
public enum KilnVersion {
    public static let current = "0.1.0"
    public static var userAgent: String { "kiln/\(current)" }
}
