"""Pure rules about jobs; imports only the standard library."""
