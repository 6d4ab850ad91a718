"""Built-in backend plugins (registered through entry points like third-party ones)."""
