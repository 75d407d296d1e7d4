import CTurboJPEG

/// JPEG encoding and decoding through libturbojpeg (TurboJPEG 2.x API).
///
/// Each call makes its own TurboJPEG handle and destroys it before returning, so the
/// functions are safe to call from any thread at once.
public enum JPEG {
    /// Chroma subsampling of encoded images.
    public enum Subsampling: Sendable {
        case none444, half422, quarter420

        var raw: Int32 {
            switch self {
            case .none444: Int32(TJSAMP_444.rawValue)
            case .half422: Int32(TJSAMP_422.rawValue)
            case .quarter420: Int32(TJSAMP_420.rawValue)
            }
        }
    }

    /// Encodes an RGB image at `quality` 1...100.
    public static func encode(_ image: RGBImage, quality: Int, subsampling: Subsampling = .quarter420) throws(JPEGError) -> [UInt8] {
        guard (1...100).contains(quality) else {
            throw JPEGError(.invalidArgument, "quality \(quality) is outside 1...100")
        }
        guard let handle = tjInitCompress() else {
            throw JPEGError(.initialisation, "tjInitCompress failed: \(lastGlobalError())")
        }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        defer { if buffer != nil { tjFree(buffer) } }
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(handle, pixels.baseAddress, Int32(image.width), 0, Int32(image.height),
                        Int32(TJPF_RGB.rawValue), &buffer, &size, subsampling.raw, Int32(quality),
                        TJFLAG_ACCURATEDCT)
        }
        guard status == 0, let buffer else {
            throw JPEGError(.compression, "tjCompress2 failed for a \(image.width)x\(image.height) image: \(message(handle))")
        }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    /// Reads the width and height from a JPEG header without decoding the pixels.
    public static func dimensions(_ bytes: [UInt8]) throws(JPEGError) -> (width: Int, height: Int) {
        guard let handle = tjInitDecompress() else {
            throw JPEGError(.initialisation, "tjInitDecompress failed: \(lastGlobalError())")
        }
        defer { tjDestroy(handle) }
        let header = try readHeader(handle, bytes)
        return (header.width, header.height)
    }

    /// Decodes a JPEG (baseline or progressive, any colour space libturbojpeg reads) to RGB.
    ///
    /// Damaged data is an error, not a partly grey picture: libjpeg's warnings (a truncated
    /// stream, corrupt entropy-coded data) make the decode fail unless `tolerateWarnings`.
    public static func decode(_ bytes: [UInt8], tolerateWarnings: Bool = false) throws(JPEGError) -> RGBImage {
        guard let handle = tjInitDecompress() else {
            throw JPEGError(.initialisation, "tjInitDecompress failed: \(lastGlobalError())")
        }
        defer { tjDestroy(handle) }
        let header = try readHeader(handle, bytes)
        let byteCount = header.width * header.height * 3
        guard header.width > 0, header.height > 0, byteCount / 3 / header.width == header.height,
              byteCount <= maximumDecodedBytes else {
            throw JPEGError(.header, "JPEG header declares \(header.width)x\(header.height) pixels, beyond the \(maximumDecodedBytes)-byte decode limit")
        }
        var pixels = [UInt8](repeating: 0, count: byteCount)
        let flags = tolerateWarnings ? TJFLAG_ACCURATEDCT : TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING
        let status = bytes.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                tjDecompress2(handle, source.baseAddress, UInt(source.count), target.baseAddress,
                              Int32(header.width), 0, Int32(header.height), Int32(TJPF_RGB.rawValue), flags)
            }
        }
        if status != 0 {
            let isWarning = tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue)
            if !(isWarning && tolerateWarnings) {
                throw JPEGError(isWarning ? .corruptData : .decompression,
                                "tjDecompress2 failed on \(bytes.count) bytes (\(header.width)x\(header.height)): \(message(handle))")
            }
        }
        do {
            return try RGBImage(width: header.width, height: header.height, pixels: pixels)
        } catch {
            throw JPEGError(.decompression, error.description)
        }
    }

    /// Decoded images above this many bytes are refused (a corrupt header can claim
    /// 65535x65535 pixels).
    public static let maximumDecodedBytes = 256 * 1024 * 1024

    private static func readHeader(_ handle: tjhandle, _ bytes: [UInt8]) throws(JPEGError) -> (width: Int, height: Int) {
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else {
            throw JPEGError(.header, "data of \(bytes.count) bytes does not start with the JPEG SOI marker FF D8")
        }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colourspace: Int32 = 0
        let status = bytes.withUnsafeBufferPointer { source in
            tjDecompressHeader3(handle, source.baseAddress, UInt(source.count), &width, &height, &subsampling, &colourspace)
        }
        guard status == 0 else {
            throw JPEGError(.header, "tjDecompressHeader3 failed on \(bytes.count) bytes: \(message(handle))")
        }
        return (Int(width), Int(height))
    }

    private static func message(_ handle: tjhandle) -> String {
        guard let text = tjGetErrorStr2(handle) else { return "no message" }
        return String(cString: text)
    }

    private static func lastGlobalError() -> String {
        guard let text = tjGetErrorStr2(nil) else { return "no message" }
        return String(cString: text)
    }
}

/// A JPEG operation that failed, naming the step and libturbojpeg's message.
public struct JPEGError: Error, CustomStringConvertible, Sendable {
    public struct Step: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public static let invalidArgument = Step(name: "invalid argument")
        public static let initialisation = Step(name: "initialisation")
        public static let compression = Step(name: "compression")
        public static let header = Step(name: "header")
        public static let decompression = Step(name: "decompression")
        /// The stream decoded with warnings: truncated or corrupt entropy-coded data.
        public static let corruptData = Step(name: "corrupt data")
        public var description: String { name }
    }

    public let step: Step
    public let message: String
    public let file: String
    public let line: Int

    public init(_ step: Step, _ message: String, file: String = #fileID, line: Int = #line) {
        self.step = step
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { "JPEG \(step): \(message) [\(file):\(line)]" }
}
