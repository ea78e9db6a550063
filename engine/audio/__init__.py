"""beamsync audio."""
