# Exchanging objects between processes through a Pipe (the documentation's example).
from multiprocessing import Pipe, Process


def f(conn):
    conn.send([42, None, "hello"])
    while True:
        msg = conn.recv()
        if msg is None:
            break
        conn.send(msg * 2)
    conn.close()


if __name__ == "__main__":
    parent_conn, child_conn = Pipe()
    p = Process(target=f, args=(child_conn,))
    p.start()
    print(parent_conn.recv())  # prints "[42, None, 'hello']"
    for word in ("ab", "cd"):
        parent_conn.send(word)
        print(parent_conn.recv())
    parent_conn.send(None)
    p.join()
    child_conn.close()
    print("poll after the child closed its end", parent_conn.poll(10))
    print("exitcode", p.exitcode)
