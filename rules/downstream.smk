# downstream stage rules (being written)
