"""Which backend a pool runs on: local worker processes or a Dask cluster.

(compat._dask is the Dask backend of compat's pools, public face
:mod:`compat.distributed`. Only this module is imported without ``distributed``;
every other module of the package imports it.)

Imports nothing from Dask: ``compat.Pool`` consults it at construction, and only
``backend="dask"`` (or ``COMPAT_BACKEND=dask``) loads :mod:`compat.distributed`.
"""

from __future__ import annotations

import os

from .._policy import Decision

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["BACKENDS", "choose_backend", "dask_pool", "dask_executor"]

BACKENDS = ("local", "dask")
ENV_BACKEND = "COMPAT_BACKEND"
ENV_ADDRESS = "COMPAT_DASK_ADDRESS"


def choose_backend(
    backend: Optional[str], address: Optional[str], environ: Any = None
) -> tuple[Decision, Optional[str]]:
    """The backend (as a :class:`compat.Decision`: ``method`` is ``"local"`` or
    ``"dask"``) and the scheduler address to use (None: a LocalCluster).

    An argument wins over the environment (``COMPAT_BACKEND``,
    ``COMPAT_DASK_ADDRESS``); an ``address`` alone means Dask."""
    env = os.environ if environ is None else environ
    if backend is not None:
        name, source = backend, "requested"
        why = f"backend={backend!r} was passed"
    elif address is not None:
        name, source, why = "dask", "requested", "address= was passed"
    elif env.get(ENV_BACKEND, "").strip():
        name, source = env[ENV_BACKEND].strip().lower(), "environment"
        why = f"{ENV_BACKEND}={name}"
    else:
        return Decision("local", "no backend requested: local worker processes", "policy"), None
    if name not in BACKENDS:
        origin = f"{ENV_BACKEND}" if source == "environment" else "backend"
        raise ValueError(f"{origin} must be one of {', '.join(BACKENDS)}, not {name!r}")
    if name == "local":
        if address is not None:
            raise ValueError("address= needs backend='dask'")
        return Decision("local", f"{why}: local worker processes", source), None
    if address is None and env.get(ENV_ADDRESS, "").strip():
        address = env[ENV_ADDRESS].strip()
        why += f", scheduler {address} from {ENV_ADDRESS}"
    elif address is not None:
        why += f", scheduler {address}"
    else:
        why += ", no address: a LocalCluster of process workers"
    return Decision("dask", why, source), address


def dask_pool(decision: Decision, address: Optional[str], args: Any, kwargs: Any) -> Any:
    """A :class:`compat.distributed.Pool` for ``compat.Pool(*args, **kwargs)``."""
    from ..distributed import Pool

    pool = Pool(*args, client=address, **kwargs)
    pool.backend_decision = decision
    return pool


def dask_executor(decision: Decision, address: Optional[str], args: Any, kwargs: Any) -> Any:
    """A :class:`compat.distributed.Executor` for ``compat.ProcessPoolExecutor(...)``."""
    from ..distributed import Executor

    executor = Executor(*args, client=address, **kwargs)
    executor.backend_decision = decision
    return executor


class BackendSwitch:
    """The ``__new__`` of ``compat.Pool`` and ``compat.ProcessPoolExecutor``: the Dask
    class when ``backend="dask"`` (or ``COMPAT_BACKEND=dask``) chooses it, else the
    local class, which records the choice in ``backend_decision``."""

    #: Where the pool runs and why (``backend=``, ``COMPAT_BACKEND``).
    backend_decision: Decision
    #: The factory of the Dask version: :func:`dask_pool` or :func:`dask_executor`.
    _dask_factory: Any = None

    def __new__(cls, *args: Any, backend: Optional[str] = None, **kwargs: Any) -> Any:
        decision, address = choose_backend(backend, kwargs.pop("address", None))
        if decision.method == "dask":
            return cls._dask_factory(decision, address, args, kwargs)
        local = super().__new__(cls)
        local.backend_decision = decision
        return local
