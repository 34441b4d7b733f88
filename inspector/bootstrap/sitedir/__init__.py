"""The directory `inspector run` puts first on PYTHONPATH: it holds `sitecustomize.py` alone.

A package only so that it is installed with inspector; nothing imports it.
"""
