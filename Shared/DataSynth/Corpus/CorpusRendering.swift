import ContentHash
import Dispatch
import Domain
import Synchronization

/// One rendered case: its stored JPEG and the JPEG's SHA-256 (hex).
public struct RenderedImage: Sendable, Equatable {
    public var caseID: String
    public var jpeg: [UInt8]
    public var sha256: String
}

/// A case whose image could not be drawn.
public struct CorpusRenderError: Error, Sendable, CustomStringConvertible {
    public var caseID: String
    public var reason: String
    public var description: String { "case \(caseID): image cannot be drawn: \(reason)" }
}

/// Draws planned cases into JPEG images. Pure CPU work, no I/O.
public enum CorpusRendering {
    /// Renders and encodes one case.
    public static func render(_ item: SyntheticCase, side: Int, quality: Int) throws(CorpusRenderError) -> RenderedImage {
        do {
            let parameters = try item.renderParameters()
            let image = try LesionRenderer.render(parameters, size: side, seed: item.imageSeed)
            let jpeg = try JPEG.encode(image, quality: quality)
            return RenderedImage(caseID: item.id, jpeg: jpeg, sha256: SHA256.hexDigest(jpeg))
        } catch let error as ImageError {
            throw CorpusRenderError(caseID: item.id, reason: error.description)
        } catch let error as JPEGError {
            throw CorpusRenderError(caseID: item.id, reason: error.description)
        } catch {
            throw CorpusRenderError(caseID: item.id, reason: String(describing: error))
        }
    }

    /// Renders every case, spreading the work over the CPU cores with
    /// `DispatchQueue.concurrentPerform`. Blocks the calling thread: call it from a thread
    /// or dispatch queue of its own, never from Swift's cooperative pool. The result keeps
    /// the order of `cases`; the first failure (in case order) is thrown.
    public static func renderAll(_ cases: [SyntheticCase], side: Int, quality: Int) throws(CorpusRenderError) -> [RenderedImage] {
        let results = Mutex<[Result<RenderedImage, CorpusRenderError>?]>(Array(repeating: nil, count: cases.count))
        // Batches of cases per iteration keep the locking rare next to the drawing.
        let batch = 16
        let iterations = (cases.count + batch - 1) / batch
        DispatchQueue.concurrentPerform(iterations: iterations) { chunk in
            let range = (chunk * batch)..<min(cases.count, (chunk + 1) * batch)
            var local: [Result<RenderedImage, CorpusRenderError>] = []
            local.reserveCapacity(range.count)
            for index in range {
                do throws(CorpusRenderError) {
                    local.append(.success(try render(cases[index], side: side, quality: quality)))
                } catch {
                    local.append(.failure(error))
                }
            }
            results.withLock { slots in
                for (offset, result) in local.enumerated() { slots[range.lowerBound + offset] = result }
            }
        }
        let collected = results.withLock { $0 }
        var images: [RenderedImage] = []
        images.reserveCapacity(cases.count)
        for (index, slot) in collected.enumerated() {
            switch slot {
            case .success(let image)?: images.append(image)
            case .failure(let error)?: throw error
            case nil: throw CorpusRenderError(caseID: cases[index].id, reason: "not rendered")
            }
        }
        return images
    }
}
