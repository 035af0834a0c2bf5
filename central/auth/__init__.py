"""Staff and patient authentication: passwords, tokens, roles, throttling, CSRF."""
