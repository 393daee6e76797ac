"""HTML reports built from results JSON files alone (never re-running models)."""
