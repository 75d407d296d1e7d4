extension Array {
    /// At most `limit` elements, evenly spread over the array from its first, in order; all of
    /// them when they fit, none when `limit` is not positive.
    func evenlySpread(limit: Int) -> [Element] {
        guard count > limit else { return self }
        guard limit > 0 else { return [] }
        let stride = Double(count) / Double(limit)
        return (0..<limit).map { self[Int(Double($0) * stride)] }
    }
}
