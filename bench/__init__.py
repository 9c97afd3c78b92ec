"""Load generator: our chat path measured against a plain Channels group chat.

``python bench/load.py --help``; see bench/README.md.
"""
