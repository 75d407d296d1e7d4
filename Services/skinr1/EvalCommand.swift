import ArgumentParser
import Foundation
import Logging
import NeuralNet
import Pipeline
import ServiceRuntime
import Store
import Workers

struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate one policy version of a run on every evaluation suite (greedy decoding) and print its metrics.")

    @OptionGroup var database: DatabaseURLOptions

    @Option(help: "The run whose version to evaluate.")
    var run: String

    @Option(help: "The policy version (0 is the base).")
    var version: Int

    @Option(help: "Evaluation items decoded together.")
    var batch: Int = 32

    @Option(help: "Threads of the numeric code (OpenBLAS and the model's loops).")
    var threads: Int = 2

    @Option(help: "Print this many answers of every suite (prompt's item id, chosen and correct letter, answer text).")
    var showAnswers: Int = 0

    @Option(help: "Sample at this temperature instead of greedy decoding, to see what rollout workers sample; the results are then not stored.")
    var temperature: Double = 0

    @Option(help: "With --temperature: min-p truncation of the sampler (the run's samplingMinP unless given).")
    var minP: Double?

    func validate() throws {
        guard version >= 0 else { throw ValidationError("--version must be 0 or more") }
        guard batch >= 1, threads >= 1 else { throw ValidationError("--batch and --threads must be at least 1") }
        guard showAnswers >= 0 else { throw ValidationError("--show-answers must be 0 or more") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be 0 (greedy) or positive") }
        if let minP { guard minP >= 0, minP <= 1 else { throw ValidationError("--min-p must lie in [0, 1]") } }
    }

    func run() async throws {
        let logger = Logger(label: "skinr1.eval")
        let client = PostgresClient(configuration: try database.configuration(), maxConnections: 2, logger: logger)
        do {
            try await evaluate(client, logger: logger)
            await client.close()
        } catch {
            await client.close()
            throw error
        }
    }

    private func evaluate(_ client: PostgresClient, logger: Logger) async throws {
        NeuralNetThreads.setThreads(threads)
        let record = try await RunRecord.load(id: run, on: client)
        let store = EvaluationStore(client: client)
        let policy = try await store.version(version, runID: run)
        let items = try await store.items(for: record.config)
        guard !items.isEmpty else {
            throw EvaluationError("run \(run) has no evaluation items yet (the trajectory synthesizer builds them)")
        }
        Console.line("evaluating run \(run) version \(policy.version) (\(policy.stage), step \(policy.step)) on \(items.count) items")
        let minP = self.minP ?? record.config.minP
        let result = try await PolicyEvaluator(client: client, logger: logger)
            .evaluate(policy, items: items, maxNewTokens: record.config.maxNewTokens, batchSize: batch,
                      temperature: Float(temperature), minP: Float(minP))
        if temperature == 0 {
            try await store.write(runID: run, policy: policy, values: result.values)
        } else {
            Console.line("sampled at temperature \(temperature), min-p \(minP): "
                         + "the results are printed, not stored (evaluation is greedy)")
        }
        if showAnswers > 0 { printAnswers(items: items, result: result) }
        Console.line(EvaluationTable.versionSummary(result.values))
        Console.line(String(format: "load %.2f s, decode %.2f s (%d items, %.1f items/s, %d tokens)",
                            result.loadSeconds, result.decodeSeconds, result.outcomes.count,
                            Double(result.outcomes.count) / max(result.decodeSeconds, 1e-9), result.generatedTokens))
    }

    private func printAnswers(items: [EvaluationSuiteItem], result: VersionEvaluation) {
        var shown: [EvaluationSuite: Int] = [:]
        for (index, outcome) in result.outcomes.enumerated() where shown[outcome.suite, default: 0] < showAnswers {
            shown[outcome.suite, default: 0] += 1
            let chosen = outcome.chosenLetter ?? "format failure"
            Console.line("[\(outcome.suite.rawValue)] \(items[index].item.id): chose \(chosen), correct \(outcome.correctLetter)")
            Console.line("    \(result.answers[index].replacingOccurrences(of: "\n", with: " "))")
        }
    }
}
