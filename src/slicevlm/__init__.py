__version__ = '0.1.0'

from slicevlm.console import silence_known_library_messages

silence_known_library_messages()  # a few known, empty library messages (see slicevlm/console.py)
