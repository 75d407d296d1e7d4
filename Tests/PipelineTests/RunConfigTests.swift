import Domain
import Testing
@testable import Pipeline

@Suite struct RunConfigTests {
    @Test func settingsReplaceKnobsOfEveryKind() throws {
        let quick = try RunConfig.profile("quick", arm: .skinR1)
        let changed = try quick.overriding([
            "sftEpochs=5", "rlLearningRate=0.0005", "skipZeroVariance=true", "objective=behaviour",
            "trajectoryStyle=full", "posedTrajectories=false", "seed=7", "pretrainNamingShare=0.4",
        ])
        #expect(changed.sftEpochs == 5)
        #expect(changed.rlLearningRate == 0.0005)
        #expect(changed.skipZeroVariance)
        #expect(changed.objective == "behaviour")
        #expect(changed.style == .full && !changed.posesTrajectories)
        #expect(changed.seed == 7)
        #expect(changed.namingShare == 0.4)
        var expected = quick
        expected.sftEpochs = 5
        expected.rlLearningRate = 0.0005
        expected.skipZeroVariance = true
        expected.objective = "behaviour"
        expected.trajectoryStyle = .full
        expected.posedTrajectories = false
        expected.seed = 7
        expected.pretrainNamingShare = 0.4
        #expect(changed == expected, "nothing else changes")
        #expect(try quick.overriding([]) == quick)
    }

    @Test func rlDropoutIsOffInTheProfilesAndFollowsSFTsInOlderRuns() throws {
        for name in RunConfig.profiles {
            let profile = try RunConfig.profile(name, arm: .skinR1)
            #expect(profile.rlDropout == 0 && profile.loraDropout > 0, "\(name)")
        }
        var older = try RunConfig.profile("smoke", arm: .skinR1)
        older.rlLoraDropout = nil
        #expect(older.rlDropout == older.loraDropout)
        #expect(try older.overriding(["rlLoraDropout=0.1"]).rlDropout == 0.1)
    }

    @Test func badSettingsNameWhatIsWrong() throws {
        let quick = try RunConfig.profile("quick", arm: .skinR1)
        for (setting, words) in [("sftEpoch=3", "not a run knob"), ("sftEpochs", "NAME=VALUE"),
                                 ("sftEpochs=two", "whole number"), ("klBeta=much", "takes a number"),
                                 ("skipZeroVariance=yes", "true or false"), ("trajectoryStyle=tiny", "valid run config")] {
            do {
                _ = try quick.overriding([setting])
                Issue.record("'\(setting)' was accepted")
            } catch let error as RunConfigError {
                #expect(error.description.contains(words), "\(setting): \(error.description)")
                #expect(error.description.contains(setting) || error.description.contains(String(setting.prefix(8))))
            }
        }
    }

    @Test func sftPartsNameTypesAndTheirPosedForms() throws {
        #expect(try SFTCorpusPart.parse(nil) == SFTCorpusPart.all)
        #expect(SFTCorpusPart.all.count == 6)
        let chosen = try SFTCorpusPart.parse("direct, revision-posed")
        #expect(chosen == [SFTCorpusPart(type: .direct, posed: false), SFTCorpusPart(type: .revision, posed: true)])
        func message(_ id: String, type: Int) -> SFTTrajectoryMessage {
            SFTTrajectoryMessage(trajectoryID: id, corpus: "textbook", type: type, imageSHA: "i", prompt: "p", target: "t",
                                 finalDiagnosis: "nevus")
        }
        #expect(SFTCorpusPart(message("r:t1", type: 1)) == SFTCorpusPart(type: .direct, posed: false))
        #expect(SFTCorpusPart(message("r:t3" + Trajectory.posedSuffix, type: 3)) == SFTCorpusPart(type: .revision, posed: true))
        #expect(SFTCorpusPart(message("r:t9", type: 9)) == nil)
        for (list, words) in [("direct,posed", "'posed' is not a part"), (" , ", "empty")] {
            #expect(throws: RunConfigError.self) { try SFTCorpusPart.parse(list) }
            do { _ = try SFTCorpusPart.parse(list) } catch let error as RunConfigError {
                #expect(error.description.contains(words), "\(list): \(error.description)")
            }
        }
        let quick = try RunConfig.profile("quick", arm: .sftOnly).overriding(["sftTrajectoryParts=direct-posed"])
        #expect(try SFTCorpusPart.parse(quick.sftTrajectoryParts) == [SFTCorpusPart(type: .direct, posed: true)])
    }
}
