# multiprocessing.shared_memory: a block attached by name in a child, a
# ShareableList, and a SharedMemoryManager (the documentation's examples).
from multiprocessing import Process, shared_memory
from multiprocessing.managers import SharedMemoryManager


def negate(name, size):
    shm = shared_memory.SharedMemory(name)
    for i in range(size):
        shm.buf[i] = 255 - shm.buf[i]
    shm.close()


def bump(name):
    sl = shared_memory.ShareableList(name=name)
    sl[0] += 1
    sl[2] = "changed"
    sl.shm.close()


if __name__ == "__main__":
    shm_a = shared_memory.SharedMemory(create=True, size=10)
    shm_a.buf[:4] = bytearray([22, 33, 44, 55])
    p = Process(target=negate, args=(shm_a.name, 4))
    p.start()
    p.join()
    print(bytes(shm_a.buf[:4]))
    shm_a.close()
    shm_a.unlink()
    sl = shared_memory.ShareableList([1, 2.5, "text", None])
    p = Process(target=bump, args=(sl.shm.name,))
    p.start()
    p.join()
    print(list(sl))
    sl.shm.close()
    sl.shm.unlink()
    with SharedMemoryManager() as smm:
        sl = smm.ShareableList(range(4))
        block = smm.SharedMemory(size=8)
        print(list(sl), block.size >= 8)
