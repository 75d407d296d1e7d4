import Foundation

/// The scheduling priority (nice value) of the whole process. A process that monitors
/// training (the evaluator) can run below the processes on training's critical path, so
/// that on shared cores it uses the time they leave.
public enum ProcessPriority {
    /// Nice values a process may give itself without privileges: 0 (normal) to 19 (lowest).
    public static let range = 0...19

    /// Sets every thread of the process to nice value `niceness`; threads started later
    /// inherit it from the thread that starts them (dispatch's worker threads excepted: it sets
    /// their value from the queue's quality of service).
    public static func lower(to niceness: Int) throws {
        guard range.contains(niceness) else {
            throw ConfigurationError("niceness \(niceness) is outside \(range.lowerBound)...\(range.upperBound) (a process may only lower its own priority)")
        }
        // Linux keeps a nice value per thread: set each one the process has now, and look
        // again until none is left at another value (a thread started during a pass copies
        // its creator's value from before the pass).
        for _ in 0..<5 {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            let threads = tasks.compactMap { id_t($0) }
            guard !threads.isEmpty else { return try set(0, to: niceness) }
            let others = threads.filter { thread in
                errno = 0
                return Int(getpriority(which, thread)) != niceness && errno == 0
            }
            if others.isEmpty { return }
            for thread in others {
                // A thread may end between the listing and the call: that is not a failure.
                try set(thread, to: niceness, goneIsFine: true)
            }
        }
    }

    private static let which = __priority_which_t(PRIO_PROCESS.rawValue)

    private static func set(_ thread: id_t, to niceness: Int, goneIsFine: Bool = false) throws {
        guard setpriority(which, thread, Int32(niceness)) == 0 || (goneIsFine && errno == ESRCH) else {
            throw ConfigurationError("cannot set niceness \(niceness) on thread \(thread): \(String(cString: strerror(errno)))")
        }
    }

    /// The nice value of the calling thread.
    public static var current: Int {
        errno = 0
        return Int(getpriority(which, 0))
    }
}
