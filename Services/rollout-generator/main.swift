print("rollout-generator")
