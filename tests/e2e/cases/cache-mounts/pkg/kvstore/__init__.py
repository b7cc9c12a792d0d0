"""A key-value store on sqlite3 (the module), checked against the sqlite3 CLI's version."""
import sqlite3


def demo():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
    db.executemany("INSERT INTO kv VALUES (?, ?)", [("a", "1"), ("b", "2")])
    return dict(db.execute("SELECT k, v FROM kv ORDER BY k"))
