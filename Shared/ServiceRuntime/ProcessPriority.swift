import Foundation

/// The scheduling priority (nice value) of the whole process. A process that monitors
/// training (the evaluator) can run below the processes on training's critical path, so
/// that on shared cores it uses the time they leave.
public enum ProcessPriority {
    /// Nice values a process may give itself without privileges: 0 (normal) to 19 (lowest).
    public static let range = 0...19

    /// Sets every thread of the process to nice value `niceness`; threads started later
    /// inherit it from the thread that starts them (dispatch's worker threads excepted: it sets
    /// their value from the queue's quality of service). Returns how many threads it changed.
    @discardableResult
    public static func lower(to niceness: Int) throws -> Int {
        guard range.contains(niceness) else {
            throw ConfigurationError("niceness \(niceness) is outside \(range.lowerBound)...\(range.upperBound) (a process may only lower its own priority)")
        }
        // Linux keeps a nice value per thread: set each one the process has now, and look
        // again until none is left at another value (a thread started during a pass copies
        // its creator's value from before the pass).
        var set: Set<id_t> = []
        for _ in 0..<5 {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            let threads = tasks.compactMap { id_t($0) }
            guard !threads.isEmpty else {
                guard setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Int32(niceness)) == 0 else { throw failure(0) }
                return 1
            }
            let others = threads.filter { thread in
                errno = 0
                return Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread)) != niceness && errno == 0
            }
            if others.isEmpty { break }
            for thread in others {
                // A thread may end between the listing and the call: that is not a failure.
                if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread, Int32(niceness)) != 0, errno != ESRCH {
                    throw failure(thread)
                }
                set.insert(thread)
            }
        }
        return max(1, set.count)

        func failure(_ thread: id_t) -> ConfigurationError {
            ConfigurationError("cannot set niceness \(niceness) on thread \(thread): \(String(cString: strerror(errno)))")
        }
    }

    /// The nice value of the calling thread.
    public static var current: Int {
        errno = 0
        return Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
    }
}
