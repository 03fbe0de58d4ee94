"""Trading platforms: each turns a venue's data into AccountSnapshots and carries out closes."""
