/// The work of each service, one folder per service; the executables in Services/ wire it
/// to the runtime. Coordination between services goes through Kafka topics and the run's
/// milestones in the store (`RunRecord`), never through shared memory.
