"""Screens of the viewer: the exchange list, one exchange in detail, export, help; and replay."""
