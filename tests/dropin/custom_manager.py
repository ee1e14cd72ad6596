# Customized managers (the documentation's example), with a start method of its own.
from multiprocessing.managers import BaseManager


class MathsClass:
    def add(self, x, y):
        return x + y

    def mul(self, x, y):
        return x * y


class MyManager(BaseManager):
    pass


MyManager.register("Maths", MathsClass)

if __name__ == "__main__":
    with MyManager() as manager:
        maths = manager.Maths()
        print(maths.add(4, 3))  # prints 7
        print(maths.mul(7, 8))  # prints 56
    manager = MyManager()
    manager.start()
    print(manager.Maths().add(1, 2))
    manager.shutdown()
    print("shut down")
