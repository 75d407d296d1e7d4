import ArgumentParser
import Domain
import Foundation

/// Scores one answer against one question item and prints the reward components as JSON.
struct RewardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reward",
        abstract: "Score an answer against a question item (JSON as the question builder writes it).")

    @Option(name: .long, help: "Path of a question item JSON file.")
    var item: String

    @Option(name: .long, help: "The answer text to score.")
    var answer: String

    @Flag(name: .long, help: "Lenient answer extraction (for external baselines) instead of strict tags.")
    var lenient = false

    func run() throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: item))
        } catch {
            throw ValidationError("cannot read question item \(item): \(error.localizedDescription)")
        }
        let question: QuestionItem
        do {
            question = try JSONDecoder().decode(QuestionItem.self, from: data)
        } catch {
            throw ValidationError("\(item) is not a question item: \(error)")
        }
        let breakdown = SkinR1Reward.score(answer: answer, item: question, mode: lenient ? .lenient : .strict)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(breakdown), as: UTF8.self))
    }
}
