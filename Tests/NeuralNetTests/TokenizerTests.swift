import Foundation
import Testing
@testable import NeuralNet

@Suite struct TokenizerTests {
    static let corpus = [
        "<thinking> The lesion is a pigmented macule with irregular borders. </thinking> <diagnosis> melanoma, melanocytic, malignant </diagnosis>",
        "<thinking> Scaly erythematous plaques on the extensor surfaces. </thinking> <diagnosis> psoriasis, inflammatory, benign </diagnosis>",
        "<thinking> A pearly papule with telangiectasia. </thinking> <final diagnosis> B, malignant </final diagnosis>",
        "Which condition is shown? A: benign B: malignant C: precancerous in situ",
    ]

    @Test func specialTokensAreSingleIds() throws {
        let tok = try BPETokenizer.train(corpus: Self.corpus, vocabSize: 400)
        #expect(tok.vocabSize <= 400 && tok.vocabSize > 266)
        #expect(tok.pad == 0 && tok.bos == 1 && tok.eos == 2)
        for s in BPETokenizer.defaultSpecialTokens {
            #expect(tok.encode(s) == [tok.id(of: s)!], "\(s) should be one token")
        }
        let ids = tok.encode("<final diagnosis> A, benign </final diagnosis>")
        #expect(ids.first == tok.id(of: "<final diagnosis>") && ids.last == tok.id(of: "</final diagnosis>"))
        // merges compress the training text
        let text = Self.corpus[0]
        #expect(tok.encode(text).count < text.utf8.count / 2)
        #expect(tok.decode(tok.encode(text)) == text)
    }

    @Test func randomUnicodeRoundTrips() throws {
        let tok = try BPETokenizer.train(corpus: Self.corpus, vocabSize: 350)
        var rng = SeededGenerator(seed: 51)
        let pools: [ClosedRange<UInt32>] = [0x20...0x7E, 0xA0...0x24F, 0x370...0x3FF, 0x4E00...0x4FFF, 0x1F300...0x1F6FF, 0x0...0x1F]
        for _ in 0..<200 {
            var s = ""
            let n = Int(rng.next() % 30)
            for _ in 0..<n {
                let pool = pools[Int(rng.next() % UInt64(pools.count))]
                let v = pool.lowerBound + UInt32(rng.next() % UInt64(pool.count))
                if let u = Unicode.Scalar(v) { s.unicodeScalars.append(u) }
            }
            if rng.next() % 4 == 0 { s += "<eos>" }  // specials inside arbitrary text
            let ids = tok.encode(s)
            #expect(tok.decode(ids) == s, "round trip failed for \(s.unicodeScalars.map { String($0.value, radix: 16) })")
            #expect(ids.allSatisfy { $0 >= 0 && Int($0) < tok.vocabSize })
        }
    }

    @Test func jsonRoundTripAndBadFile() throws {
        let tok = try BPETokenizer.train(corpus: Self.corpus, vocabSize: 320)
        let back = try BPETokenizer(jsonData: tok.jsonData())
        #expect(back == tok)
        #expect(back.encode(Self.corpus[1]) == tok.encode(Self.corpus[1]))
        #expect(throws: NeuralNetError.self) { try BPETokenizer(jsonData: Data("{\"format\":\"skinr1-bpe-1\",\"specialTokens\":[],\"merges\":[[5,900]]}".utf8)) }
        #expect(throws: NeuralNetError.self) { try BPETokenizer.train(corpus: [], vocabSize: 10) }
    }

    @Test func trainingIsDeterministic() throws {
        let a = try BPETokenizer.train(corpus: Self.corpus, vocabSize: 330)
        let b = try BPETokenizer.train(corpus: Self.corpus.reversed(), vocabSize: 330)
        #expect(a == b)
    }
}
