"""beamsync output."""
