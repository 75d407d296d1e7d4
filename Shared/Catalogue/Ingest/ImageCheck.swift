import DataSynth

/// Checks that image bytes are a whole JPEG or PNG file and tells which.
public enum ImageCheck {
    public enum MediaType: String, Sendable {
        case jpeg = "image/jpeg"
        case png = "image/png"
    }

    /// JPEGs are decoded in full (libjpeg warnings count as damage); PNGs are walked chunk
    /// by chunk with every CRC checked, from IHDR to IEND.
    public static func verify(_ bytes: [UInt8]) throws(ImageCheckError) -> MediaType {
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF {
            do {
                _ = try JPEG.decode(bytes)
            } catch {
                throw ImageCheckError(message: "JPEG does not decode: \(error.message)")
            }
            return .jpeg
        }
        if bytes.starts(with: pngSignature) {
            try verifyPNG(bytes)
            return .png
        }
        throw ImageCheckError(message: "neither a JPEG nor a PNG file (\(bytes.count) bytes)")
    }

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static func verifyPNG(_ bytes: [UInt8]) throws(ImageCheckError) {
        var offset = pngSignature.count
        var first = true
        while true {
            guard offset + 12 <= bytes.count else { throw ImageCheckError(message: "PNG truncated at byte \(offset) (no IEND)") }
            let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let typeBytes = Array(bytes[(offset + 4)..<(offset + 8)])
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard length <= bytes.count - offset - 12 else {
                throw ImageCheckError(message: "PNG chunk \(type) at byte \(offset) runs past the end of the file")
            }
            if first {
                guard type == "IHDR", length == 13 else { throw ImageCheckError(message: "PNG does not start with an IHDR chunk") }
                first = false
            }
            let crcStart = offset + 8 + length
            let stored = UInt32(bytes[crcStart]) << 24 | UInt32(bytes[crcStart + 1]) << 16 | UInt32(bytes[crcStart + 2]) << 8 | UInt32(bytes[crcStart + 3])
            guard crc32(bytes[(offset + 4)..<crcStart]) == stored else {
                throw ImageCheckError(message: "PNG chunk \(type) at byte \(offset) fails its CRC")
            }
            offset = crcStart + 4
            if type == "IEND" { return }
        }
    }

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 as PNG uses it (ISO 3309, reflected, initial and final xor 0xFFFFFFFF).
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes { c = crcTable[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}

public struct ImageCheckError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
