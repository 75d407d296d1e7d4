/// Synthetic corpus and dataset ingestion.
public enum DataSynthModule {
    public static let name = "DataSynth"
}
