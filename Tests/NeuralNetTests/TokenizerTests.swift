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

    @Test func aPhraseWrittenAsAWordOfItsOwnIsOneToken() throws {
        let phrases = ["basal cell carcinoma", "melanoma", "melanoma in situ"]
        let tok = try BPETokenizer.train(corpus: Self.corpus, vocabSize: 380, phrases: phrases)
        #expect(tok.vocabSize <= 380)
        let ids = phrases.map { tok.encode(" \($0)") }
        #expect(ids.allSatisfy { $0.count == 1 }, "\(ids)")
        #expect(Set(ids.map { $0[0] }).count == 3)
        // The ids come after the merges, in the order given; each decodes with its space.
        let first = Int32(tok.specialTokens.count + 256 + tok.merges.count)
        #expect(ids.map { $0[0] } == [first, first + 1, first + 2])
        #expect(tok.decode([first]) == " basal cell carcinoma")
        // The longest phrase wins; inside an option line and before punctuation it still matches.
        #expect(tok.encode("A: melanoma in situ") == tok.encode("A:") + [first + 2])
        #expect(tok.encode("indicates melanoma.") == tok.encode("indicates") + [first + 1] + tok.encode("."))
        // Not at the start of the text (no space), and not as part of a longer word.
        #expect(!tok.encode("melanoma").contains(first + 1))
        #expect(!tok.encode("a melanomas b").contains(first + 1))
        #expect(!tok.encode(" melanoma2").contains(first + 1))
        // Round trips, and a tokenizer without phrases splits the same text into pieces.
        for text in ["<thinking> These findings indicate basal cell carcinoma. </thinking>", "B: melanoma in situ\nC: melanoma"] {
            #expect(tok.decode(tok.encode(text)) == text)
        }
        let plain = try BPETokenizer.train(corpus: Self.corpus, vocabSize: 380)
        #expect(plain.encode(" basal cell carcinoma").count > 1)
        // Stored and read back with the phrases; a file without them reads as before.
        let back = try BPETokenizer(jsonData: tok.jsonData())
        #expect(back == tok && back.encode(" melanoma in situ") == [first + 2])
        #expect(!String(decoding: try plain.jsonData(), as: UTF8.self).contains("phrases"))
    }

    @Test func badPhrasesAreRefusedWithTheirPosition() throws {
        #expect(throws: NeuralNetError.self) { try BPETokenizer.train(corpus: Self.corpus, vocabSize: 400, phrases: ["acne", "acne"]) }
        do {
            _ = try BPETokenizer(specialTokens: ["<pad>"], merges: [], phrases: ["acne", " rosacea"])
            Issue.record("a phrase with a leading space was accepted")
        } catch let error as NeuralNetError {
            #expect(error.message.contains("phrase 1") && error.message.contains(" rosacea"))
        }
        // The phrases count towards the vocabulary.
        #expect(throws: NeuralNetError.self) { try BPETokenizer.train(corpus: Self.corpus, vocabSize: 267, phrases: ["acne", "wart"]) }
    }
}
