import DataSynth
import Foundation
@testable import Catalogue

/// A dataset tree built in a temporary folder by a test, in one of the distributed
/// layouts; images are tiny JPEGs (or PNGs) of distinct colours, so every file has its
/// own sha256.
struct IngestFixture {
    let root: URL

    init(_ name: String) throws {
        root = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("skinr1-ingest-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func write(_ path: String, _ bytes: [UInt8]) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    func write(_ path: String, text: String) throws { try write(path, Array(text.utf8)) }

    func remove(_ path: String) throws { try FileManager.default.removeItem(at: root.appendingPathComponent(path)) }

    func delete() { try? FileManager.default.removeItem(at: root) }

    func tree() throws -> DirectoryFileTree { try DirectoryFileTree(root: root) }

    /// An 8x8 JPEG of a colour chosen by `index`.
    static func jpeg(_ index: Int) throws -> [UInt8] {
        let image = RGBImage(width: 8, height: 8, fill: colour(index))
        return try JPEG.encode(image, quality: 95)
    }

    /// A 4x4 RGB PNG (stored, uncompressed deflate blocks) of a colour chosen by `index`.
    static func png(_ index: Int) -> [UInt8] {
        let (r, g, b) = colour(index)
        let side = 4
        var raw: [UInt8] = []
        for _ in 0..<side {
            raw.append(0) // filter: none
            for _ in 0..<side { raw += [r, g, b] }
        }
        var zlib: [UInt8] = [0x78, 0x01, 0x01]
        let length = UInt16(raw.count)
        zlib += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
        zlib += raw
        var a: UInt32 = 1, bSum: UInt32 = 0
        for byte in raw { a = (a + UInt32(byte)) % 65521; bSum = (bSum + a) % 65521 }
        zlib += bigEndian((bSum << 16) | a)
        var ihdr = bigEndian(UInt32(side)) + bigEndian(UInt32(side))
        ihdr += [8, 2, 0, 0, 0]
        return ImageCheck.pngSignature + chunk("IHDR", ihdr) + chunk("IDAT", zlib) + chunk("IEND", [])
    }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(ImageCheck.crc32(body[...]))
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    private static func colour(_ index: Int) -> (UInt8, UInt8, UInt8) {
        (UInt8((index * 37 + 11) % 256), UInt8((index * 91 + 7) % 256), UInt8((index * 13 + 101) % 256))
    }
}

/// The expected shape of a HAM10000 fixture: lesions with one to three images each.
struct HAMFixture {
    struct Image { var lesion: String; var image: String; var dx: String }
    static let codes = ["nv", "mel", "bkl", "bcc", "akiec", "vasc", "df"]
    let fixture: IngestFixture
    let images: [Image]
    let metadataFile = "HAM10000_metadata.csv"

    /// `lesions` lesions; codes cycle over the seven classes; images alternate between the
    /// two part folders; one localization is quoted with an embedded comma.
    init(lesions: Int = 21, testSet: Bool = false) throws {
        fixture = try IngestFixture("ham")
        var images: [Image] = []
        var csv = "lesion_id,image_id,dx,dx_type,age,sex,localization\r\n"
        var n = 0
        for l in 0..<lesions {
            let lesion = String(format: "HAM_%07d", l)
            for _ in 0..<(1 + l % 3) {
                let image = String(format: "ISIC_%07d", n)
                let dx = Self.codes[l % Self.codes.count]
                images.append(Image(lesion: lesion, image: image, dx: dx))
                let site = n == 0 ? "\"upper extremity, left\"" : "back"
                csv += "\(lesion),\(image),\(dx),histo,45.0,male,\(site)\r\n"
                try fixture.write("HAM10000_images_part_\(1 + n % 2)/\(image).jpg", IngestFixture.jpeg(n))
                n += 1
            }
        }
        try fixture.write(metadataFile, text: "\u{FEFF}" + csv)
        if testSet {
            var truth = "image,MEL,NV,BCC,AKIEC,BKL,DF,VASC\n"
            for (i, row) in ["1.0,0.0,0.0,0.0,0.0,0.0,0.0", "0.0,1.0,0.0,0.0,0.0,0.0,0.0", "0.0,0.0,0.0,0.0,0.0,0.0,1.0"].enumerated() {
                let image = String(format: "ISIC_%07d", 9_000_000 + i)
                truth += "\(image),\(row)\n"
                try fixture.write("ISIC2018_Task3_Test_Images/\(image).jpg", IngestFixture.jpeg(500 + i))
            }
            try fixture.write("ISIC2018_Task3_Test_GroundTruth.csv", text: truth)
        }
        self.images = images
    }

    /// Appends raw lines to the metadata file and returns the line number of the first.
    func append(_ lines: [String]) throws -> Int {
        let url = fixture.root.appendingPathComponent(metadataFile)
        let text = try String(contentsOf: url, encoding: .utf8)
        // The file ends with a line break, so the next line is one past the number of breaks.
        let first = text.unicodeScalars.filter { $0 == "\n" }.count + 1
        try (text + lines.map { $0 + "\r\n" }.joined()).write(to: url, atomically: true, encoding: .utf8)
        return first
    }
}
