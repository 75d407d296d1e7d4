print("reward-scorer")
