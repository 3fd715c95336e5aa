# report stage rules (being written)
