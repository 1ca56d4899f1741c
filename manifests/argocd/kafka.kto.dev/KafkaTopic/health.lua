-- Argo CD health check for kto's KafkaTopic (kafka.kto.dev/v1alpha1).
-- It reads what kto writes: status.conditions[type=Ready] (reasons: operator/kto/reasons.py) and
-- status.observedGeneration. Written for Argo CD's sandbox: base and table libraries only (no string, no math).
local FINALIZER = "kto.dev/topic-protection"

-- Ready=False with one of these waits for a change of the spec or of the cluster: kto does not retry it.
local DEGRADED = {
  InvalidSpec = true, InvalidConfig = true, NotSupported = true, InsufficientBrokers = true,
  BelowMinInSyncReplicas = true, ResourceConflict = true, NamespaceNotAllowed = true, ClusterNotFound = true,
  AuthenticationFailed = true, AuthorizationFailed = true, SecretNotFound = true, AdoptionRequired = true,
  Protected = true,
}
-- kto retries these with backoff, or follows a move of replicas: the topic is on its way.
local PROGRESSING = {
  ReplicasChanging = true, ClusterNotReady = true, KafkaError = true, Unreachable = true, Adopting = true,
  TopicBeingDeleted = true,
}

local function result(status, message)
  return { status = status, message = message or "" }
end

local function readyCondition(status)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      return condition
    end
  end
  return nil
end

local function describe(condition)
  if condition == nil then
    return "kto has not reported on it yet"
  end
  return tostring(condition.reason) .. ": " .. tostring(condition.message)
end

local function health(obj)
  local meta = obj.metadata or {}
  local status = obj.status
  local ready = readyCondition(status)

  if meta.deletionTimestamp ~= nil then
    local others = {}
    local ours = false
    for _, finalizer in ipairs(meta.finalizers or {}) do
      if finalizer == FINALIZER then
        ours = true
      else
        table.insert(others, finalizer)
      end
    end
    if ours then
      return result("Progressing", "being deleted: waiting for kto to release its finalizer " .. FINALIZER
        .. " (" .. describe(ready) .. ")")
    end
    if #others > 0 then
      return result("Progressing", "being deleted: waiting for the finalizer(s) " .. table.concat(others, ", "))
    end
    return result("Progressing", "being deleted")
  end

  if ready == nil then
    return result("Progressing", "waiting for kto to reconcile this KafkaTopic")
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

  local reason = ready.reason
  local message = ready.message or ""
  if reason == "Paused" then
    return result("Suspended", message)
  end
  if reason == "Unmanaged" then
    if ready.status == "True" then
      return result("Healthy", message)
    end
    return result("Degraded", message)
  end
  if ready.status == "False" and DEGRADED[reason] then
    return result("Degraded", message)
  end
  local change = status.replicasChange
  if change ~= nil then
    local text = change.message
    if text == nil or text == "" then
      text = "replication factor changing to " .. tostring(change.targetReplicas) .. " (" .. tostring(change.state) .. ")"
    end
    return result("Progressing", text)
  end
  if ready.status == "True" then
    return result("Healthy", message)
  end
  if PROGRESSING[reason] or ready.status ~= "False" then
    return result("Progressing", message)
  end
  -- Ready=False for a reason this check does not know: not healthy, and nothing says it will become so.
  return result("Degraded", describe(ready))
end

return health(obj)
