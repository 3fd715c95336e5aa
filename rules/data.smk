# data stage rules (being written)
