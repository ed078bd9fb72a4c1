"""The farm: a reel as an Open Job Description job bundle (one Restore task per planned range, then Conform)."""
