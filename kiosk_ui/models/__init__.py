"""Qt models of what the screens show: state, version guards, formatting. No widgets here."""
