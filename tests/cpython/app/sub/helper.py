from ..core import greet  # a relative import up to the parent package


def answer():
    return greet("sub") + "!"
