from . import helper  # a relative import inside the table
