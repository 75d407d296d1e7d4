import Foundation

/// Lines for the operator on standard output, written at once (not buffered), so they
/// interleave correctly with log lines on standard error and reach pipes immediately.
public enum Console {
    public static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
