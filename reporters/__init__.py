"""Built-in reporter plugins and their Jinja2 templates."""
