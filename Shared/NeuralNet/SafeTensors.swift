import Foundation

/// The safetensors container: 8-byte little-endian header length, a JSON header mapping
/// tensor names to {dtype, shape, data_offsets} (plus "__metadata__": string -> string),
/// then raw little-endian data. Only F32 tensors are written or read here.
public enum SafeTensors {
    public struct Entry: Sendable {
        public let name: String
        public let shape: [Int]
        public let values: [Float]
        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name; self.shape = shape; self.values = values
        }
    }

    /// Serialises tensors in the given order. A per-tensor FNV-1a checksum goes into the
    /// metadata under "checksums" so that a flipped byte is reported with its tensor.
    public static func encode(_ entries: [Entry], metadata: [String: String]) throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        var sums: [String: String] = [:]
        for e in entries {
            guard e.shape.reduce(1, *) == e.values.count else {
                throw NeuralNetError("safetensors: tensor \(e.name) has \(e.values.count) values for shape \(e.shape)")
            }
            let bytes = e.values.count * 4
            header[e.name] = ["dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
            sums[e.name] = e.values.withUnsafeBytes { checksum(UnsafeRawBufferPointer($0)) }
        }
        var meta = metadata
        meta["checksums"] = String(decoding: try JSONSerialization.data(withJSONObject: sums, options: [.sortedKeys]), as: UTF8.self)
        header["__metadata__"] = meta
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }   // pad so tensor data is 8-byte aligned
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for e in entries {
            // Float is IEEE-754 binary32; store the bit patterns little-endian.
            e.values.withUnsafeBufferPointer { buf in
                for v in buf { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            }
        }
        return out
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return String(h, radix: 16)
    }

    /// A parsed file; `source` (a path or a label) prefixes every error.
    public struct File: Sendable {
        public let source: String
        public let metadata: [String: String]
        public let shapes: [String: [Int]]
        let ranges: [String: Range<Int>]
        let data: Data          // the tensor data section
        let checksums: [String: String]

        public var tensorNames: [String] { shapes.keys.sorted() }

        /// The values of a tensor, checked against the expected shape and its checksum.
        public func floats(_ name: String, shape expected: [Int]) throws -> [Float] {
            guard let shape = shapes[name], let range = ranges[name] else {
                throw NeuralNetError("\(source): tensor \(name) is missing")
            }
            guard shape == expected else {
                throw NeuralNetError("\(source): tensor \(name) has shape \(shape), the model expects \(expected)")
            }
            let slice = data[(data.startIndex + range.lowerBound)..<(data.startIndex + range.upperBound)]
            if let want = checksums[name] {
                let got = slice.withUnsafeBytes { SafeTensors.checksum($0) }
                guard got == want else { throw NeuralNetError("\(source): tensor \(name) is corrupt (checksum mismatch)") }
            }
            var out = [Float](repeating: 0, count: range.count / 4)
            slice.withUnsafeBytes { raw in
                for i in 0..<out.count {
                    out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            }
            return out
        }
    }

    public static func decode(_ bytes: Data, source: String) throws -> File {
        func fail(_ s: String) -> NeuralNetError { NeuralNetError("\(source): \(s)") }
        guard bytes.count >= 8 else { throw fail("too short for a safetensors file (\(bytes.count) bytes)") }
        let n = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n <= UInt64(bytes.count - 8) else {
            throw fail("header length \(n) exceeds the file size \(bytes.count) (truncated or not safetensors)")
        }
        let headerData = bytes[(bytes.startIndex + 8)..<(bytes.startIndex + 8 + Int(n))]
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let data = bytes[(bytes.startIndex + 8 + Int(n))...]
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let mm = m as? [String: String] else { throw fail("__metadata__ must map strings to strings") }
            metadata = mm
        }
        var shapes: [String: [Int]] = [:], ranges: [String: Range<Int>] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let t = value as? [String: Any], let dtype = t["dtype"] as? String,
                  let shape = t["shape"] as? [Int], let offs = t["data_offsets"] as? [Int], offs.count == 2 else {
                throw fail("tensor \(name): header entry needs dtype, shape and two data_offsets")
            }
            guard dtype == "F32" else { throw fail("tensor \(name): dtype \(dtype) is not supported (F32 only)") }
            guard offs[0] >= 0, offs[0] <= offs[1], offs[1] <= data.count else {
                throw fail("tensor \(name): data_offsets \(offs) outside the \(data.count) data bytes (truncated file?)")
            }
            guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) * 4 == offs[1] - offs[0] else {
                throw fail("tensor \(name): shape \(shape) does not match its \(offs[1] - offs[0]) bytes")
            }
            shapes[name] = shape
            ranges[name] = offs[0]..<offs[1]
        }
        var sums: [String: String] = [:]
        if let s = metadata["checksums"] {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: String] else {
                throw fail("metadata checksums is not a JSON object of strings")
            }
            sums = parsed
        }
        return File(source: source, metadata: metadata, shapes: shapes, ranges: ranges, data: Data(data), checksums: sums)
    }
}
