"""Multi-digit arithmetic: problems, formats, position schemes, the task."""
