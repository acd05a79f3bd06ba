public enum PaddockVersion {
    public static let current = "0.1.0"
}
