"""beamsync analysis."""
