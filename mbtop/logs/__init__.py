"""Log followers and parsers: Postfix mail log, nginx access and error logs."""
