print("corvid")
