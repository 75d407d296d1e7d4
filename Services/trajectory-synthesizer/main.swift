print("trajectory-synthesizer")
