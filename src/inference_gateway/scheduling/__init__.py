"""Pure endpoint picking: filters, scorers, pickers and profiles over endpoint snapshots."""
