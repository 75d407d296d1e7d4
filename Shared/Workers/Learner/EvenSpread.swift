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

extension Array where Element == Int {
    /// The `percent`-th percentile of these values, which must be sorted ascending: the value
    /// at rank count * percent / 100 (50 is the median, 100 the largest); 0 when there are none.
    func percentileOfSorted(_ percent: Int) -> Int {
        isEmpty ? 0 : self[Swift.min(count - 1, count * percent / 100)]
    }
}
