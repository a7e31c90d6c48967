import Foundation

/// POSIX shell quoting.
public enum ShellQuote {
    /// Characters that never need quoting in a POSIX shell word.
    static func isSafe(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "a"..."z", "A"..."Z", "0"..."9", "/", ".", "_", "-", ":", "@", "%", "+", ",": true
        default: false
        }
    }

    /// `text` as one shell word: unchanged when every character is safe, otherwise wrapped
    /// in single quotes with embedded quotes written `'\''`. Nothing inside is expanded.
    public static func quote(_ text: String) -> String {
        if !text.isEmpty && text.unicodeScalars.allSatisfy(isSafe) { return text }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Joins words into one command line, quoting each.
    public static func join(_ words: [String]) -> String { words.map(quote).joined(separator: " ") }
}
