-- Argo CD health check for kto's KafkaCluster (kafka.kto.dev/v1alpha1).
-- It reads what kto writes: status.conditions[type=Ready] (reasons: operator/kto/reasons.py) and
-- status.observedGeneration. Written for Argo CD's sandbox: base and table libraries only (no string, no math).

-- Ready=False with one of these needs a person: a Secret, the credentials, the ACLs or the spec.
-- BrokerConfigRefused: spec.brokerConfig names a key brokers cannot change at runtime, a value they reject, or
-- a key set by hand; DefaultQuotasRefused: spec.defaultUserQuotas names a quota set by hand or a value the
-- brokers reject. kto wrote nothing of it and waits for the spec (the cluster's topics and users go on).
-- RefreshFailed: kto could not refresh the cluster (e.g. it may not read the referenced Secret); retried.
local DEGRADED = {
  AuthenticationFailed = true, AuthorizationFailed = true, SecretNotFound = true, InvalidSpec = true,
  SecretNotMarked = true, InsecureConnection = true, ClusterIdChanged = true, InvalidClientConfig = true,
  UnsupportedKafkaVersion = true,
  BrokerConfigRefused = true, DefaultQuotasRefused = true, RefreshFailed = true,
}

local function result(status, message)
  return { status = status, message = message or "" }
end

local function condition(status, type)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function health(obj)
  local meta = obj.metadata or {}
  local status = obj.status
  local ready = condition(status, "Ready")

  if meta.deletionTimestamp ~= nil then
    local finalizers = meta.finalizers or {}
    if #finalizers > 0 then
      return result("Progressing", "being deleted: waiting for the finalizer(s) " .. table.concat(finalizers, ", "))
    end
    return result("Progressing", "being deleted")
  end

  if ready == nil then
    return result("Progressing", "waiting for kto to connect to the brokers")
  end

  local generation = meta.generation
  local observed = status.observedGeneration
  if observed == nil then
    observed = ready.observedGeneration
  end
  if generation ~= nil and (observed == nil or observed < generation) then
    return result("Progressing", "waiting for kto to reconcile generation " .. tostring(generation)
      .. " (status is of generation " .. tostring(observed) .. ")")
  end

  local message = ready.message or ""
  if ready.status == "True" then
    return result("Healthy", message)
  end
  if ready.status == "False" and DEGRADED[ready.reason] then
    return result("Degraded", message)
  end
  -- Unreachable: kto probes again with backoff (2 to 32 s) and the topics wait for it; once it has lasted
  -- spec.stalledAfterSeconds (default 300), kto adds Stalled=True, and a sync stops waiting for it.
  local stalled = condition(status, "Stalled")
  if stalled ~= nil and stalled.status == "True" then
    return result("Degraded", stalled.message)
  end
  if ready.reason == "Unreachable" or ready.status ~= "False" then
    return result("Progressing", message)
  end
  -- Ready=False for a reason this check does not know: not healthy, and nothing says it will become so.
  return result("Degraded", tostring(ready.reason) .. ": " .. message)
end

return health(obj)
