"""beamsync control."""
