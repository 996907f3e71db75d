"""The SQLite store: `store.py` reads in this process; every write goes to one writer process
(`writer_process.py`) through `writer_client.py`."""
