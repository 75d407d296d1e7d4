/// The policy: a compact vision-language transformer on OpenBLAS.
public enum NeuralNetModule {
    public static let name = "NeuralNet"
}
