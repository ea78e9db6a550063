"""beamsync ui."""
