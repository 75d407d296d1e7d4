import Foundation
import Pipeline
import Store

/// One row of `eval_results` with its run's arm.
public struct EvaluationResultRow: Sendable, Equatable {
    public var runID: String
    public var arm: RunArm
    public var version: Int
    public var stage: String
    public var step: Int
    public var suite: String
    public var datasetID: String
    public var metric: String
    public var value: Double
    public var items: Int

    public init(runID: String, arm: RunArm, version: Int, stage: String, step: Int, suite: String, datasetID: String,
                metric: String, value: Double, items: Int) {
        self.runID = runID
        self.arm = arm
        self.version = version
        self.stage = stage
        self.step = step
        self.suite = suite
        self.datasetID = datasetID
        self.metric = metric
        self.value = value
        self.items = items
    }
}

/// The paper-shaped evaluation tables (its Tables 4 and 5) from `eval_results`: one line per
/// model (base, SFT, RL without SFT and Skin-R1 at each evaluated step), in-distribution
/// accuracy per training dataset with the unweighted average, then OOD accuracy, lesion
/// condition accuracy and macro-F1, DDx and hierarchical accuracy and the strict-format
/// failure rate over every item.
public enum EvaluationTable {
    /// One line of the tables.
    public struct Line: Sendable, Equatable {
        public var label: String
        public var runID: String
        public var version: Int
        /// (suite, dataset, metric) -> value.
        public var values: [String: Double]

        func value(_ suite: String, _ dataset: String, _ metric: EvaluationMetric) -> Double? {
            values["\(suite)|\(dataset)|\(metric.rawValue)"]
        }

        /// Mean of the per-dataset in-distribution accuracies (nil without any).
        func diseaseAverage(_ datasets: [String]) -> Double? {
            let found = datasets.compactMap { value(EvaluationSuite.disease.rawValue, $0, .accuracy) }
            return found.isEmpty ? nil : found.reduce(0, +) / Double(found.count)
        }
    }

    /// The lines of the tables, in the paper's order: base, SFT, RL-only steps, Skin-R1 steps.
    /// A base or SFT model that several runs share (the arms of one experiment) appears once,
    /// from the first run in `rows` that has it.
    public static func lines(_ rows: [EvaluationResultRow]) -> [Line] {
        var order: [String] = []
        var byKey: [String: (label: String, rank: Int, step: Int, line: Line)] = [:]
        for row in rows {
            let (label, rank) = Self.label(row)
            let key = rank < 2 ? label : "\(row.runID)|\(row.version)"
            if byKey[key] == nil {
                order.append(key)
                byKey[key] = (label, rank, row.step, Line(label: label, runID: row.runID, version: row.version, values: [:]))
            }
            // The shared base and SFT lines take their values from the first run only.
            guard byKey[key]!.line.runID == row.runID, byKey[key]!.line.version == row.version else { continue }
            byKey[key]!.line.values["\(row.suite)|\(row.datasetID)|\(row.metric)"] = row.value
        }
        return order.map { byKey[$0]! }
            .enumerated()
            .sorted { a, b in
                (a.element.rank, a.element.step, a.offset) < (b.element.rank, b.element.step, b.offset)
            }
            .map(\.element.line)
    }

    /// The tables as text.
    public static func render(_ rows: [EvaluationResultRow]) -> String {
        let lines = lines(rows)
        guard !lines.isEmpty else { return "no evaluation results yet" }
        let datasets = Set(rows.filter { $0.suite == EvaluationSuite.disease.rawValue && $0.datasetID != EvaluationMetrics.pooled }
            .map(\.datasetID)).sorted()
        let pooled = EvaluationMetrics.pooled

        var first = [["Model"] + datasets + ["Average"]]
        for line in lines {
            first.append([line.label] + datasets.map { format(line.value(EvaluationSuite.disease.rawValue, $0, .accuracy)) }
                         + [format(line.diseaseAverage(datasets))])
        }
        var second = [["Model", "OOD", "Condition acc", "Condition F1", "DDx", "Hierarchical", "Format failures"]]
        for line in lines {
            second.append([
                line.label,
                format(line.value(EvaluationSuite.ood.rawValue, pooled, .accuracy)),
                format(line.value(EvaluationSuite.lesionCondition.rawValue, pooled, .accuracy)),
                format(line.value(EvaluationSuite.lesionCondition.rawValue, pooled, .macroF1)),
                format(line.value(EvaluationSuite.ddx.rawValue, pooled, .accuracy)),
                format(line.value(EvaluationSuite.hierarchical.rawValue, pooled, .accuracy)),
                format(line.value(pooled, pooled, .formatFailureRate)),
            ])
        }
        let disease = EvaluationSuite.disease.rawValue
        var third = [["Model", "Names an option", "Names the answer", "Chooses an option it named", "Accuracy"]]
        for line in lines {
            third.append([line.label, format(line.value(disease, pooled, .namesOptionRate)),
                          format(line.value(disease, pooled, .namesAnswerRate)),
                          format(line.value(disease, pooled, .choiceFollowsReasoningRate)),
                          format(line.value(disease, pooled, .accuracy))])
        }
        return "In-distribution disease diagnosis (accuracy, greedy decoding)\n" + grid(first)
            + "\n\nOut of distribution, lesion condition, targeted sets and strict format\n" + grid(second)
            + "\n\nDisease answers: does the choice follow the reasoning? (all in-distribution items)\n" + grid(third)
    }

    /// How much each model's figures move between repeats of an experiment (each element of
    /// `repeats` is one repeat's rows, its arms together): per model line, the number of
    /// repeats that have it, the mean, sample standard deviation, least and greatest of the
    /// in-distribution average, and the means of OOD and lesion-condition accuracy.
    public static func spread(_ repeats: [[EvaluationResultRow]]) -> String {
        let disease = EvaluationSuite.disease.rawValue, pooled = EvaluationMetrics.pooled
        var order: [String] = []
        var averages: [String: [Double]] = [:], ood: [String: [Double]] = [:], condition: [String: [Double]] = [:]
        for rows in repeats {
            let datasets = Set(rows.filter { $0.suite == disease && $0.datasetID != pooled }.map(\.datasetID)).sorted()
            for line in lines(rows) {
                guard let average = line.diseaseAverage(datasets) else { continue }
                if averages[line.label] == nil { order.append(line.label) }
                averages[line.label, default: []].append(average)
                if let v = line.value(EvaluationSuite.ood.rawValue, pooled, .accuracy) { ood[line.label, default: []].append(v) }
                if let v = line.value(EvaluationSuite.lesionCondition.rawValue, pooled, .accuracy) {
                    condition[line.label, default: []].append(v)
                }
            }
        }
        guard !order.isEmpty else { return "no evaluation results yet" }
        var cells = [["Model", "Runs", "Average: mean", "sd", "min", "max", "OOD mean", "Condition acc mean"]]
        for label in order {
            let xs = averages[label]!
            let m = mean(xs)!
            let sd = xs.count > 1 ? (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot() : nil
            cells.append([label, "\(xs.count)", format(m), format(sd), format(xs.min()), format(xs.max()),
                          format(mean(ood[label] ?? [])), format(mean(condition[label] ?? []))])
        }
        return "In-distribution disease accuracy over \(repeats.count) repeats (sd: sample standard deviation)\n" + grid(cells)
    }

    /// Reads the results of the runs named (in that order of precedence for shared lines).
    public static func load(runIDs: [String], on client: PostgresClient) async throws -> [EvaluationResultRow] {
        let rows = try await client.query("""
            SELECT e.run_id, r.arm, e.version, e.stage, e.step, e.suite, e.dataset_id, e.metric, e.value, e.items
            FROM eval_results e JOIN runs r ON r.id = e.run_id
            WHERE e.run_id = ANY(\(runIDs))
            ORDER BY array_position(\(runIDs)::text[], e.run_id), e.version, e.suite, e.dataset_id, e.metric
            """)
        return try rows.map { row in
            let armText: String = try row.decode("arm")
            guard let arm = RunArm(rawValue: armText) else { throw EvaluationError("run has an unknown arm '\(armText)'") }
            return EvaluationResultRow(
                runID: try row.decode("run_id"), arm: arm, version: try row.decode("version"),
                stage: try row.decode("stage"), step: try row.decode("step"), suite: try row.decode("suite"),
                datasetID: try row.decode("dataset_id"), metric: try row.decode("metric"), value: try row.decode("value"),
                items: try row.decode("items"))
        }
    }

    /// The tables of the runs named, read from the store.
    public static func render(runIDs: [String], on client: PostgresClient) async throws -> String {
        render(try await load(runIDs: runIDs, on: client))
    }

    /// The metrics of one version, one line per suite and dataset (pooled lines last in
    /// each suite): what `skinr1 eval` prints.
    public static func versionSummary(_ values: [SuiteMetricValue]) -> String {
        var keys: [String] = []
        var table: [String: [EvaluationMetric: SuiteMetricValue]] = [:]
        for value in values {
            let key = "\(value.suite)|\(value.datasetID)"
            if table[key] == nil { keys.append(key) }
            table[key, default: [:]][value.metric] = value
        }
        var cells = [["Suite", "Dataset", "Accuracy", "Macro-F1", "Format failures", "Names an option", "Names the answer",
                      "Chooses one named", "Items"]]
        for key in keys {
            let metrics = table[key]!
            let any = metrics.values.first!
            cells.append([any.suite, any.datasetID, format(metrics[.accuracy]?.value), format(metrics[.macroF1]?.value),
                          format(metrics[.formatFailureRate]?.value), format(metrics[.namesOptionRate]?.value),
                          format(metrics[.namesAnswerRate]?.value), format(metrics[.choiceFollowsReasoningRate]?.value),
                          String(any.items)])
        }
        return grid(cells)
    }

    // MARK: - Text

    /// The model's name in the tables and its place: 0 base, 1 SFT, 2 RL-only, 3 Skin-R1.
    static func label(_ row: EvaluationResultRow) -> (String, Int) {
        switch row.stage {
        case "base": ("Base", 0)
        case "sft": ("SFT", 1)
        default: row.arm == .rlOnly ? ("RL-only step \(row.step)", 2) : ("Skin-R1 step \(row.step)", 3)
        }
    }

    static func format(_ value: Double?) -> String {
        value.map { String(format: "%.4f", $0) } ?? "-"
    }

    /// Left-aligned first column, right-aligned numbers, a rule under the header.
    static func grid(_ cells: [[String]]) -> String {
        let widths = (0..<cells[0].count).map { column in cells.map { $0[column].count }.max() ?? 0 }
        func pad(_ text: String, _ width: Int, left: Bool) -> String {
            let fill = String(repeating: " ", count: max(0, width - text.count))
            return left ? text + fill : fill + text
        }
        var out: [String] = []
        for (index, row) in cells.enumerated() {
            out.append(row.enumerated().map { pad($0.element, widths[$0.offset], left: $0.offset == 0) }.joined(separator: "  "))
            if index == 0 { out.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        return out.joined(separator: "\n")
    }
}
