"""Argo CD's health checks (manifests/argocd/) run the way Argo CD runs them, on a real Lua 5.1.

Argo CD runs a health check from ``argocd-cm`` in gopher-lua (Lua 5.1) with only the base, package and table
libraries and a reduced ``os`` (``util/lua/lua.go``: ``SkipOpenLibs`` unless ``useOpenLibs`` is set for the
kind), sets the resource as the global ``obj`` (JSON arrays become 1-based tables, JSON null becomes nil) and
takes the table the script returns as ``{status, message}``. :func:`run_health` does the same with lupa's
Lua 5.1: the script sees nothing else, not even string methods (``("x"):upper()``), so a check that works
here does not fail in Argo CD for want of a library.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from tests.support.env import REPO

ARGOCD = REPO / "manifests" / "argocd"
CUSTOMIZATIONS = ARGOCD / "kafka.kto.dev"
KINDS = ("KafkaTopic", "KafkaCluster", "KafkaUser")
# Argo CD's HealthStatusCode values; anything else becomes Unknown "Lua returned an invalid health status".
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

# What Argo CD's sandbox offers: lua.OpenBase (with coroutine, as gopher-lua has it), lua.OpenPackage,
# lua.OpenTable and a "safe" os.
_SANDBOX = """
local loadstring, setfenv, pcall, error, getmetatable = loadstring, setfenv, pcall, error, getmetatable
local base = {"assert", "collectgarbage", "dofile", "error", "getfenv", "getmetatable", "ipairs", "load",
              "loadfile", "loadstring", "next", "pairs", "pcall", "print", "rawequal", "rawget", "rawset",
              "select", "setfenv", "setmetatable", "tonumber", "tostring", "type", "unpack", "xpcall",
              "_VERSION", "module", "require"}
local source_env = _G
return function(source, obj)
  local env = {}
  for _, name in ipairs(base) do env[name] = source_env[name] end
  env.coroutine = source_env.coroutine
  env.table = source_env.table
  env.package = source_env.package
  env.os = {time = source_env.os.time, date = source_env.os.date, clock = source_env.os.clock,
            difftime = source_env.os.difftime}
  env._G = env
  env.obj = obj
  local chunk, err = loadstring(source, "=health.lua")
  if chunk == nil then error(err, 0) end
  setfenv(chunk, env)
  -- Without Lua's string library there are no string methods either.
  local string_mt = getmetatable("")
  local string_index = string_mt.__index
  string_mt.__index = nil
  local ok, value = pcall(chunk)
  string_mt.__index = string_index
  if not ok then error(value, 0) end
  return value
end
"""


@functools.cache
def _runtime():
    from lupa.lua51 import LuaRuntime

    lua = LuaRuntime(register_eval=False, register_builtins=False)
    assert lua.eval("_VERSION") == "Lua 5.1", "Argo CD's gopher-lua is Lua 5.1"
    return lua, lua.execute(_SANDBOX)


def _to_lua(lua, value: Any):
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items() if v is not None})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)  # JSON numbers: gopher-lua's LNumber is a float64
    raise TypeError(f"not a JSON value: {value!r}")


def run_health(script: str, obj: dict[str, Any]) -> dict[str, str]:
    """The health status the script gives ``obj``: ``{"status": ..., "message": ...}`` (message "" if none)."""
    lua, sandbox = _runtime()
    value = sandbox(script, _to_lua(lua, obj))
    if lua.eval("type")(value) != "table":
        raise AssertionError(f"expect table output from Lua script, not {lua.eval('type')(value)}")
    status, message = value["status"], value["message"]
    return {"status": status if status is not None else "", "message": message if message is not None else ""}


def kind_dir(kind: str) -> Path:
    """Argo CD's layout: resource_customizations/<group>/<kind>/ with health.lua, health_test.yaml, testdata/."""
    return CUSTOMIZATIONS / kind


def health_script(kind: str) -> str:
    return (kind_dir(kind) / "health.lua").read_text()
