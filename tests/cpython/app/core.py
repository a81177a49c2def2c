def greet(who):
    return "hello, " + who


def fail():
    raise ValueError("raised in app.core")
