"""careledger's edge: configuration, keys, database set-up, the command line."""
