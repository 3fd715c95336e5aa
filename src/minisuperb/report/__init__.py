"""The report stage: collect metrics files into a results table (`collect`), score it (SUPERB and
MiniSUPERB scores, `scoring`), correlate the ranking with SUPERB's (`correlation`), count the cost
(`cost`), and write the report (`analysis`, `figures`, `document`, `build`; commands in `commands`)."""
