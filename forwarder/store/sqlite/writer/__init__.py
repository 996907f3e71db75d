"""The SQLite writer process's code: the process (process.py, frames.py) and its operations, one module per concern.

The process is started by ../writer_process.py, with `python -P`: it loads this package under the name `writer`
and nothing but the standard library, never the forwarder package. So every module here imports only the standard
library and its siblings, relatively.
"""
