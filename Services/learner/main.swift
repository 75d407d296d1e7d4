print("learner")
