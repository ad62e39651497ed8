"""Source resolution (local copy or canonical remote, clear offline error) and the record schema."""
