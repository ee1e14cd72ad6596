# multiprocessing.connection: a Listener in the parent, a Client in a child.
from multiprocessing import Process
from multiprocessing.connection import Client, Listener, wait


def client(address, authkey):
    with Client(address, authkey=authkey) as conn:
        conn.send([2.25, None, "junk", float])
        conn.send_bytes(b"hello")
        print("client got", conn.recv(), flush=True)


if __name__ == "__main__":
    authkey = b"secret password"
    with Listener(("127.0.0.1", 0), authkey=authkey) as listener:
        p = Process(target=client, args=(listener.address, authkey))
        p.start()
        with listener.accept() as conn:
            print(conn.recv())
            print(conn.recv_bytes())
            print(len(wait([conn], timeout=0)) == 0)
            conn.send("bye")
        p.join()
    print("exitcode", p.exitcode)
