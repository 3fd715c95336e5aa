# features stage rules (being written)
