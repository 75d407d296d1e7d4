import ArgumentParser
import BLASKernel
import Foundation
import NeuralNet

/// Learner-step efficiency against the sgemm peak of the same run, KV-cache speed-up and
/// learner memory of the nano policy; `--overfit` instead shows a micro policy learning.
struct BenchModel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Policy speed: learner step vs sgemm peak, KV-cache generation speed-up, learner peak RSS (--overfit: loss of a micro model falling).")

    @Flag(help: "Only show a micro policy overfitting a few sequences (loss falls to near zero).")
    var overfit = false

    @Option(help: "Sequences per learner step.")
    var batch = 16

    @Option(name: .customLong("text-tokens"), help: "Text tokens per sequence, after the visual prefix.")
    var textTokens = 80

    @Option(name: .customLong("generation-batch"), help: "Rows generated together.")
    var generationBatch = 64

    @Option(name: .customLong("new-tokens"), help: "Tokens generated per row.")
    var newTokens = 100

    @Option(help: "Threads for OpenBLAS and for the element-wise loops (default: all cores).")
    var threads: Int?

    func validate() throws {
        guard batch > 0, textTokens > 0, generationBatch > 0, newTokens > 0 else {
            throw ValidationError("--batch, --text-tokens, --generation-batch and --new-tokens must be positive")
        }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1, got \(t)") }
    }

    func run() async throws {
        let (overfit, batch, textTokens, generationBatch, newTokens, threads) =
            (self.overfit, self.batch, self.textTokens, self.generationBatch, self.newTokens, self.threads)
        // The numeric work blocks for seconds: it runs on its own thread, not on the shared pool.
        try await onDedicatedThread {
            if let t = threads {
                NeuralNetThreads.setThreads(t)
            }
            if overfit {
                try Self.runOverfit()
            } else {
                try Self.runSpeed(batch: batch, textTokens: textTokens, generationBatch: generationBatch, newTokens: newTokens)
            }
        }
    }

    static func runOverfit() throws {
        print("overfit: micro policy, 4 sequences of 12 tokens, loss on the last 8 (response) tokens")
        let losses = try PolicyBenchmarks.overfit(steps: 150) { step, loss in
            if step % 10 == 0 || step == 149 { print(String(format: "  step %3d  loss %.4f", step, loss)) }
        }
        print(String(format: "overfit: loss %.3f -> %.4f", losses.first!, losses.last!))
    }

    static func runSpeed(batch: Int, textTokens: Int, generationBatch: Int, newTokens: Int) throws {
        let config = ModelConfig.nano()
        let parameters = try PolicyModel(config: config, seed: 0).parameterCount
        print(String(format: "model bench: nano policy, %.2f M parameters, C=%d, %d+%d layers, vocabulary %d",
                     Double(parameters) / 1e6, config.channels, config.visionLayers, config.decoderLayers, config.vocabSize))
        print("\(BLASKernelSelection.summary), BLAS threads \(NeuralNetThreads.blasThreads), loop threads \(NeuralNetThreads.loopThreads)")
        let kernel = NeuralNetThreads.blasKernel
        // The peak is the best of probes before and after, so a busy moment cannot flatter the ratio.
        let before = BLASProbe.sgemmGFLOPS(n: 1024, repeats: 10)
        let full = try PolicyBenchmarks.learnerStep(config: config, batch: batch, textTokens: textTokens, lora: nil, steps: 8)
        let lora = try PolicyBenchmarks.learnerStep(config: config, batch: batch, textTokens: textTokens, lora: .nano, steps: 8)
        let after = BLASProbe.sgemmGFLOPS(n: 1024, repeats: 10)
        let peak = max(before, after)
        let positions = config.visualTokens + textTokens
        print(String(format: "sgemm peak: %.1f GFLOP/s (1024^3, best of probes before and after the steps)", peak))
        print(String(format: "learner step (%d x %d positions, all weights): %.3f s, %.0f tokens/s",
                     batch, positions, full.seconds, full.tokensPerSecond))
        print(String(format: "learner step: %.1f%% of sgemm peak (%.1f of %.1f GFLOP/s, kernel %@)",
                     100 * full.gflops / peak, full.gflops, peak, kernel))
        print(String(format: "learner step, LoRA r=%d with the base frozen: %.3f s, %.0f tokens/s, %.1f%% of sgemm peak (%.1f GFLOP/s)",
                     LoRAConfig.nano.rank, lora.seconds, lora.tokensPerSecond, 100 * lora.gflops / peak, lora.gflops))
        if let rss = lora.peakRSSBytes {
            print("learner peak RSS: \(rss >> 20) MiB")
        }
        // GRPO's batches as the quick profile makes them: 4 groups of 4 answers of about 83
        // tokens after prompts of about 100, narrow-rotary policy with a rank-32 adapter.
        let narrow = ModelConfig.narrowRotary()
        let packing = try PolicyBenchmarks.groupPacking(config: narrow, lora: LoRAConfig(rank: 32, alpha: 16, dropout: 0),
                                                        groups: 4, answers: 4, promptTokens: 100, answerTokens: 83)
        print(String(format: "GRPO batch, 4 groups x 4 answers (prompt 100 + answer 83 tokens), narrow-rotary, forward + backward: one row per answer %.3f s (%d slots), one branched row per group %.3f s (%d slots): %.2fx",
                     packing.plainSeconds, packing.plainPositions, packing.branchedSeconds, packing.branchedPositions, packing.speedup))
        print("generation: \(generationBatch) rows x \(newTokens) new tokens, with and without the KV cache (the latter takes a while)")
        let gen = try PolicyBenchmarks.generation(config: config, batch: generationBatch, promptTokens: 20, newTokens: newTokens)
        print(String(format: "generation: %.0f tokens/s with KV cache, %.0f tokens/s recomputing every step",
                     gen.cachedTokensPerSecond, gen.uncachedTokensPerSecond))
        print(String(format: "kv-cache speedup: %.1fx", gen.speedup))
    }
}

/// Runs blocking work on a new thread and resumes the caller with its result.
func onDedicatedThread(_ work: @escaping @Sendable () throws -> Void) async throws {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
        let thread = Thread {
            do { try work(); continuation.resume() } catch { continuation.resume(throwing: error) }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
