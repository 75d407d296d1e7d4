import Foundation

/// The scheduling priority (nice value) of the whole process. A process that monitors
/// training (the evaluator) can run below the processes on training's critical path, so
/// that on shared cores it uses the time they leave.
public enum ProcessPriority {
    /// Nice values a process may give itself without privileges: 0 (normal) to 19 (lowest).
    public static let range = 0...19

    /// Sets every thread of the process to nice value `niceness`; threads started later
    /// inherit it from the thread that starts them. Returns how many threads were set.
    @discardableResult
    public static func lower(to niceness: Int) throws -> Int {
        guard range.contains(niceness) else {
            throw ConfigurationError("niceness \(niceness) is outside \(range.lowerBound)...\(range.upperBound) (a process may only lower its own priority)")
        }
        // Linux keeps a nice value per thread: set each one the process has now.
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        let threads = tasks.compactMap { id_t($0) }
        for thread in threads.isEmpty ? [0] : threads {
            guard setpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread, Int32(niceness)) == 0 else {
                throw ConfigurationError("cannot set niceness \(niceness) on thread \(thread): \(String(cString: strerror(errno)))")
            }
        }
        return max(1, threads.count)
    }

    /// The nice value of the calling thread.
    public static var current: Int {
        errno = 0
        return Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
    }
}
