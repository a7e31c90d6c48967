import Model

/// Quotes `value` for a POSIX shell so that the shell passes it through as one word, byte
/// for byte (no expansion of `$`, backquotes, globs, `~` or whitespace splitting). Every
/// value Kiln puts into a shell command line goes through this; the quoting itself is
/// `Model.ShellQuote`, shared with template rendering.
public func shellQuote(_ value: String) -> String {
    ShellQuote.quote(value)
}

/// Quotes each argument and joins them with spaces, giving a command line that a POSIX
/// shell splits back into exactly `arguments`.
public func shellCommandLine(_ arguments: [String]) -> String {
    ShellQuote.join(arguments)
}
