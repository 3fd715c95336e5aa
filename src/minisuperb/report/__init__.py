"""The report stage: collect metrics files into a results table, score it (SUPERB and MiniSUPERB
scores), correlate the ranking with SUPERB's, count the cost, and write the report."""
