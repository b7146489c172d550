"""mbtop: a live terminal monitor for a Mailborder mail gateway."""

__version__ = "0.1.0"
