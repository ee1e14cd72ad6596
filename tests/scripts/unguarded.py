# A script that starts a child at top level, without the __main__ guard.
import compat
from tests.targets import double

child = compat.spawn_child(double, 21)
print("result", child.result(30))
