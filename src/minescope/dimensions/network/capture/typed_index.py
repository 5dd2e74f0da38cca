"""The compiled engine's flow index: numba's typed dict of canonical 5-tuple → flow-table slot.

Both functions are compiled and cached on disk: made or measured from Python, numba compiles the typed
dict's helpers anew in every process (about 0.5 s to make one, 0.1 s for its length)."""

from numba import njit, types
from numba.typed import Dict

FLOW_KEY = types.UniTuple(types.uint64, 5)


@njit(cache=True)
def new_flow_index():
    return Dict.empty(key_type=FLOW_KEY, value_type=types.int64)


@njit(cache=True)
def flow_count(index):
    return len(index)
