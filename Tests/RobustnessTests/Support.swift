import Foundation

/// How much of the matrix to run: `make test` runs a reduced matrix, `make robustness`
/// (KILN_ROBUSTNESS=full) the whole one.
enum Matrix {
    static var full: Bool { ProcessInfo.processInfo.environment["KILN_ROBUSTNESS"] == "full" }
}
