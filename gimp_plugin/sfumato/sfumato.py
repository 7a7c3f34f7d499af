#!/usr/bin/env python3
"""Sfumato for GIMP 3: the file GIMP starts, for every call. The plug-in is
sfumato_plugin.py; this file only makes the start cheap, because a per-call start is paid on every
call (bench/bench_gimp.py):

- the plug-in is imported, not run as this script, so Python reuses its compiled bytecode (a script
  is compiled afresh every start: ~7 ms for the plug-in);
- asyncio is loaded only when something uses it (below).
"""
import os
import sys


def defer_asyncio():
    """PyGObject 3.50+ imports asyncio when gi loads, for its async API, which this plug-in never
    uses: 25-50 ms of every per-call start here (asyncio pulls in ssl, logging, concurrent.futures).
    In its place goes asyncio's own package module, not yet executed, holding the names gi takes at
    import: the real InvalidStateError (asyncio/exceptions.py, which imports nothing) and loop
    getters that load asyncio when called. Any other name asked of it runs asyncio's __init__ into
    that same module object, so a later user of asyncio gets the real one, with the same classes."""
    if "asyncio" in sys.modules:
        return
    import importlib.util  # binds importlib too
    spec = importlib.util.find_spec("asyncio")
    if spec is None or spec.submodule_search_locations is None:
        return  # let gi's own import say what is wrong
    module = importlib.util.module_from_spec(spec)

    def load():
        if "__getattr__" in module.__dict__:
            del module.__getattr__
            spec.loader.exec_module(module)
        return module

    def __getattr__(name):  # PEP 562: only names the module does not hold yet get here
        return getattr(load(), name)

    sys.modules["asyncio"] = module
    try:
        module.InvalidStateError = importlib.import_module("asyncio.exceptions").InvalidStateError
    except BaseException:
        del sys.modules["asyncio"]
        raise
    # gi stores these and calls them only for a Gio call awaited in Python; by then asyncio has loaded
    # and its __init__ has put the real functions in their place
    module._get_running_loop = lambda: load().events._get_running_loop()
    module.get_event_loop = lambda: load().events.get_event_loop()
    module.__getattr__ = __getattr__


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    defer_asyncio()
    import sfumato_plugin
    sfumato_plugin.main(sys.argv)
