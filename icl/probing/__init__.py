"""Looking inside trained models: attention statistics and probes."""
