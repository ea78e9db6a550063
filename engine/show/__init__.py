"""beamsync show."""
