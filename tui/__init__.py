"""The terminal UI and the command-line entry points (the composition root).

Only this package may import textual and rich; the library (`inspector`) never imports it.
"""
