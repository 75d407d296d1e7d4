/// The pure domain core of Skin-R1: taxonomy, DDx graph, questions, trajectories, rewards.
/// Nothing in this module performs I/O.
public enum DomainModule {
    public static let name = "Domain"
}
