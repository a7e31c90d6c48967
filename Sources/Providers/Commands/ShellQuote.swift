import Foundation

/// Quotes `value` for a POSIX shell so that the shell passes it through as one word,
/// byte for byte: no expansion of `$`, backquotes, globs, `~` or whitespace splitting.
///
/// The value is wrapped in single quotes, inside which a POSIX shell interprets nothing;
/// an embedded single quote is written as `'\''` (close the quote, an escaped quote,
/// reopen). Every value Kiln puts into a shell command line goes through this function.
public func shellQuote(_ value: String) -> String {
    "'" + value.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
}

/// Quotes each argument with `shellQuote(_:)` and joins them with spaces, giving a command
/// line that a POSIX shell splits back into exactly `arguments`.
public func shellCommandLine(_ arguments: [String]) -> String {
    arguments.map(shellQuote).joined(separator: " ")
}
