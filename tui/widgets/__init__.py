"""Widgets of the viewer, each named for what it shows; the virtual list underlies the long ones."""
