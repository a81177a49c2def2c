"""An application package frozen into a table by the tests."""
from .core import greet

VERSION = "1.0"
