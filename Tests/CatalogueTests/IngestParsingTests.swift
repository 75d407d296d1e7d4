import DataSynth
import Domain
import Foundation
import Knowledge
import Testing
@testable import Catalogue

@Suite(.timeLimit(.minutes(1)))
struct IngestCSVTests {
    @Test func quotedFieldsCommasQuotesNewlinesBOMAndCRLF() throws {
        let text = "\u{FEFF}id,note,dx\r\n1,\"a, b\",nv\r\n\r\n2,\"say \"\"hi\"\"\",mel\r\n3,\"two\r\nlines\",bcc\r\n4,,\"\"\n5,last,df"
        let table = try CSVTable(file: "m.csv", text: text)
        #expect(table.header == ["id", "note", "dx"])
        #expect(table.records.map(\.fields) == [
            ["1", "a, b", "nv"], ["2", "say \"hi\"", "mel"], ["3", "two\nlines", "bcc"], ["4", "", ""], ["5", "last", "df"],
        ])
        // Lines as an editor shows them: the blank line 3 is skipped, the quoted line break spans 5-6.
        #expect(table.records.map(\.line) == [2, 4, 5, 7, 8])
    }

    @Test func tabSeparatedAndHeaderless() throws {
        let tab = try CSVTable(file: "m.tab", text: "a\tb\nx,y\tz\n", delimiter: "\t")
        #expect(tab.records.map(\.fields) == [["x,y", "z"]])
        let bare = try CSVTable(file: "g.csv", text: "ISIC_1,benign\nISIC_2,malignant\n", hasHeader: false)
        #expect(bare.records.count == 2 && bare.header.isEmpty)
    }

    @Test func anUnclosedQuoteNamesTheLineItOpensOn() {
        #expect {
            _ = try CSVTable(file: "m.csv", text: "id,dx\n1,nv\n2,\"mel\n3,bcc\n")
        } throws: { error in
            let error = error as? IngestError
            return error?.kind == .malformedRow && error?.location == SourceLocation(file: "m.csv", row: 3)
        }
    }

    @Test func aMissingColumnListsTheColumnsPresent() {
        #expect {
            let table = try CSVTable(file: "m.csv", text: "image,dx\n")
            _ = try table.column("lesion_id")
        } throws: { error in
            String(describing: error).contains("missing column \"lesion_id\" (columns: image, dx)")
        }
    }

    @Test func aShortRowNamesItsLine() throws {
        let table = try CSVTable(file: "m.csv", text: "a,b,c\n1,2,3\n4\n")
        #expect(throws: IngestError.self) { _ = try table.field(table.records[1], 2) }
        #expect((try? table.field(table.records[0], 2)) == "3")
    }
}

@Suite(.timeLimit(.minutes(1)))
struct IngestSplitTests {
    @Test func groupsNeverSpanSplitsAndTheDrawIsSeeded() {
        var rows: [SplitCandidate] = []
        for lesion in 0..<50 {
            for _ in 0..<(1 + lesion % 4) {
                rows.append(SplitCandidate(group: "L\(lesion)", stratum: ["a", "b"][lesion % 2], official: nil))
            }
        }
        let splits = SplitAssigner.assign(rows, seed: 3)
        var splitOfGroup: [String: CorpusSplit] = [:]
        for (row, split) in zip(rows, splits) {
            #expect(splitOfGroup[row.group] == nil || splitOfGroup[row.group] == split)
            splitOfGroup[row.group] = split
        }
        // 25 groups per stratum: 15/5/5.
        let counts = Dictionary(splitOfGroup.values.map { ($0, 1) }, uniquingKeysWith: +)
        #expect(counts == [.train: 30, .val: 10, .test: 10])
        #expect(SplitAssigner.assign(rows, seed: 3) == splits)
        #expect(SplitAssigner.assign(rows, seed: 4) != splits)
    }

    @Test func officialSplitsStayAndValidationIsCarvedFromTrain() {
        var rows = (0..<40).map { SplitCandidate(group: "P\($0)", stratum: "x", official: .train) }
        rows += (40..<50).map { SplitCandidate(group: "P\($0)", stratum: "x", official: .test) }
        let splits = SplitAssigner.assign(rows, seed: 1)
        #expect(splits[40...].allSatisfy { $0 == .test })
        let trainPart = Dictionary(splits[..<40].map { ($0, 1) }, uniquingKeysWith: +)
        #expect(trainPart == [.train: 30, .val: 10])
    }

    @Test func anOfficialValidationSplitIsKeptAsIs() {
        let rows = [CorpusSplit.train, .val, .test, .train].enumerated().map {
            SplitCandidate(group: "G\($0.offset)", stratum: "x", official: $0.element)
        }
        #expect(SplitAssigner.assign(rows, seed: 9) == [.train, .val, .test, .train])
    }
}

@Suite(.timeLimit(.minutes(1)))
struct IngestImageCheckTests {
    @Test func jpegAndPNGAreRecognisedAndDamageIsCaught() throws {
        let jpeg = try IngestFixture.jpeg(1)
        #expect(try ImageCheck.verify(jpeg) == .jpeg)
        #expect(throws: ImageCheckError.self) { try ImageCheck.verify(Array(jpeg.prefix(jpeg.count - 40))) }
        let png = IngestFixture.png(2)
        #expect(try ImageCheck.verify(png) == .png)
        var flipped = png
        flipped[40] ^= 0xFF
        #expect(throws: ImageCheckError.self) { try ImageCheck.verify(flipped) }
        #expect(throws: ImageCheckError.self) { try ImageCheck.verify(Array(png.prefix(png.count - 12))) }
        #expect(throws: ImageCheckError.self) { try ImageCheck.verify(Array("GIF89a".utf8)) }
    }

    @Test func crc32MatchesTheKnownCheckValue() {
        #expect(ImageCheck.crc32(Array("123456789".utf8)[...]) == 0xCBF4_3926)
    }
}

@Suite(.timeLimit(.minutes(1)))
struct IngestParserTests {
    static func tree(_ files: [String: String]) -> MemoryFileTree {
        MemoryFileTree(files: files.mapValues { Array($0.utf8) })
    }

    @Test func dermNetFileNamesGiveTheDiagnosisText() {
        #expect(IngestParser.dermNetDiagnosis("nodular-basal-cell-carcinoma-12.jpg") == "nodular basal cell carcinoma")
        #expect(IngestParser.dermNetDiagnosis("03EczemaExcoriated.jpg") == "03EczemaExcoriated")
        #expect(IngestParser.dermNetDiagnosis("lupus-chronic-cutaneous-23.JPG") == "lupus chronic cutaneous")
    }

    @Test func ham10000RowsFromAListingAndTheMetadata() throws {
        let tree = Self.tree([
            "HAM10000_metadata.csv": "lesion_id,image_id,dx,dx_type,age,sex,localization\nHAM_1,ISIC_1,nv,histo,40,male,back\nHAM_1,ISIC_2,nv,histo,40,male,back\nHAM_2,ISIC_3,mel,histo,,female,face\n",
            "HAM10000_images_part_1/ISIC_1.jpg": "x", "HAM10000_images_part_2/ISIC_2.jpg": "x",
            "ham10000_images_part_2/ISIC_2.jpg": "x",
        ])
        let parsed = try IngestParser.parse(.ham10000, tree: tree)
        #expect(parsed.rows.map(\.imagePath) == ["HAM10000_images_part_1/ISIC_1.jpg", "HAM10000_images_part_2/ISIC_2.jpg"])
        #expect(parsed.rows.map(\.groupKey) == ["HAM_1", "HAM_1"])
        #expect(parsed.rows.first?.labels == ["dx": "nv"])
        #expect(parsed.rows.first?.metadata["localization"] == .string("back"))
        #expect(parsed.problems.map(\.error.kind) == [.missingImage])
        #expect(parsed.problems.first?.error.location == SourceLocation(file: "HAM10000_metadata.csv", row: 4))
    }

    @Test func aTreeWithoutTheMetadataFileIsALayoutError() {
        #expect {
            _ = try IngestParser.parse(.bcn20000, tree: Self.tree(["x/a.jpg": "x"]))
        } throws: { error in
            String(describing: error).contains("bcn_20k_train.csv")
        }
    }

    @Test func oneHotRowsNeedExactlyOneClass() throws {
        let tree = Self.tree([
            "ISIC_2019_Training_GroundTruth.csv": "image,MEL,NV,UNK\nISIC_1,1.0,0.0,0.0\nISIC_2,1.0,1.0,0.0\nISIC_3,0.0,0.0,0.0\nISIC_4,0.0,maybe,0.0\n",
            "ISIC_2019_Training_Input/ISIC_1.jpg": "x", "ISIC_2019_Training_Input/ISIC_2.jpg": "x",
            "ISIC_2019_Training_Input/ISIC_3.jpg": "x", "ISIC_2019_Training_Input/ISIC_4.jpg": "x",
        ])
        let parsed = try IngestParser.parse(.isic2019, tree: tree)
        #expect(parsed.rows.map(\.labelCode) == ["MEL"])
        #expect(parsed.problems.map(\.error.location.row) == [3, 4, 5])
        #expect(parsed.problems.allSatisfy { $0.error.kind == .malformedRow })
    }

    @Test func derm12345LevelsAreJoinedAsTheLabelMapReadsThem() throws {
        let header = "image_id,patient_id,image_type,copyright-license,split,super_class,malignancy,main_class_1,main_class_2,sub_class,label\n"
        let tree = Self.tree([
            "derm12345_metadata_train.csv": header
                + "DERM_1,PID_1,d,c,train,melanocytic,malignant,melanoma,melanoma,lentigo_maligna,lm\n"
                + "DERM_2,PID_1,d,c,train,nonmelanocytic,indeterminate,keratinocytic,keratinocytic,actinic_keratosis,ak\n",
            "derm12345_train_part_1/lm/DERM_1.jpg": "x", "derm12345_train_part_2/ak/DERM_2.jpg": "x",
        ])
        let parsed = try IngestParser.parse(.derm12345, tree: tree)
        #expect(parsed.rows.map(\.labels) == [
            ["super_class": "melanocytic_malignant", "main_class": "melanoma", "label": "lm"],
            ["super_class": "nonmelanocytic_indeterminate", "main_class": "indeterminate_keratinocytic", "label": "ak"],
        ])
        let knowledge = try KnowledgeBase.load()
        let map = try #require(knowledge.labelMap(for: "DERM12345"))
        for row in parsed.rows {
            for (level, code) in row.labels { #expect(map.entry(for: code, level: level) != nil, "\(level) \(code)") }
        }
        #expect(parsed.rows.allSatisfy { $0.officialSplit == .train })
    }

    @Test func labelsResolveThroughTheKnowledge() throws {
        let resolver = LabelResolver(knowledge: try KnowledgeBase.load())
        func row(_ dataset: String, _ labels: [String: String], _ order: [String]) -> IngestRow {
            IngestRow(labelDataset: dataset, dataset: "d", source: SourceLocation(file: "f", row: 2), imageID: "i",
                      imagePath: "i.jpg", labels: labels, levelOrder: order, groupKey: nil, officialSplit: nil)
        }
        #expect(try resolver.resolve(row("HAM10000", ["dx": "bkl"], ["dx"])) == .labelled(node: "benign_keratosis", condition: .benign, level: "dx"))
        #expect(try resolver.resolve(row("ISBI2016", ["answer": "Benign image."], ["answer"]))
                == .labelled(node: nil, condition: .benign, level: "answer"))
        #expect(try resolver.resolve(row("ISIC2018", ["answer": "Melanocytic nevi"], ["answer"]))
                == .labelled(node: "melanocytic_nevus", condition: .benign, level: "taxonomy"))
        if case .leftOut = try resolver.resolve(row("Derm7pt", ["diagnosis": "miscellaneous"], ["diagnosis"])) {} else {
            Issue.record("miscellaneous should be left out")
        }
        #expect {
            _ = try resolver.resolve(row("PAD-UFES-20", ["diagnostic": "BOD"], ["diagnostic"]))
        } throws: { error in
            (error as? IngestError)?.kind == .unknownLabel && String(describing: error).contains("f row 2")
        }
    }
}
