{{/* The chart name, overridable. */}}
{{- define "kto.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name of the release's objects. */}}
{{- define "kto.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "kto.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kto.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kto
{{- end -}}

{{/* Labels that select the kto Pod. */}}
{{- define "kto.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kto.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The image reference: repository@digest when a digest is set, else repository:tag (tag: the appVersion). */}}
{{- define "kto.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* Whether the metrics Service exists: asked for, or needed by the ServiceMonitor. */}}
{{- define "kto.metricsService" -}}
{{- if or .Values.metrics.service.enabled .Values.metrics.serviceMonitor.enabled -}}true{{- end -}}
{{- end -}}

{{/* The ServiceAccount kto runs as. */}}
{{- define "kto.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kto.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Lease the kto Pods elect their leader with (in the release namespace). */}}
{{- define "kto.leaseName" -}}
{{- printf "%s-leader" (include "kto.fullname" .) -}}
{{- end -}}

{{/* The namespaces kto serves in "namespaces" scope; fails on an empty list. */}}
{{- define "kto.namespaces" -}}
{{- if eq .Values.rbac.scope "namespaces" -}}
{{- if not .Values.rbac.namespaces -}}
{{- fail "rbac.scope=namespaces needs at least one namespace in rbac.namespaces" -}}
{{- end -}}
{{- join "," (uniq .Values.rbac.namespaces) -}}
{{- end -}}
{{- end -}}

{{/*
The rules kto needs, and nothing else (DESIGN.md, "Packaging and RBAC", says why each is there;
tests/integration/test_chart_rbac.py shows what breaks without each).
*/}}
{{- define "kto.rules" -}}
# kopf lists and watches the three kinds, and kto lists topics and users once at startup (ownership is decided
# with every claim known); objects are never read one by one.
- apiGroups: [kafka.kto.dev]
  resources: [kafkatopics, kafkaclusters, kafkausers]
  verbs: [list, watch]
# kto's finalizers (kto.dev/topic-protection, kto.dev/user-protection): a JSON patch of metadata.finalizers.
- apiGroups: [kafka.kto.dev]
  resources: [kafkatopics, kafkausers]
  verbs: [patch]
# Status of the three kinds: a merge patch of the status subresource.
- apiGroups: [kafka.kto.dev]
  resources: [kafkatopics/status, kafkaclusters/status, kafkausers/status]
  verbs: [patch]
# Secrets kto reads: a KafkaCluster's credentials and TLS material, a KafkaUser's password Secret and the
# application Secret kto wrote. Read when needed (each probe and resync), never listed or watched.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# The application Secret kto writes for each KafkaUser (<name>-kafka: username, password, sasl.jaas.config, ...):
# created, then replaced when the password rotates.
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, update]
# Events about kto's objects (drift corrected, failures, finalizer releases).
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}

{{/* Cluster-scoped reads kopf's observers make (both modes). */}}
{{- define "kto.observerRules" -}}
# kopf watches CRDs to notice kto's CRDs created or changed after kto started; without
# it kopf retries the list with ERROR logs for about a minute at every start, then stops noticing them. kto reads
# its own CRDs when their objects are deleted: a CRD being deleted (an uninstall) never deletes data in Kafka.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]
# KafkaPolicies are cluster-scoped and the platform's: kto reads them, writes their status, and keeps one
# ValidatingAdmissionPolicyBinding per policy (kto-policy-<name>) in step with it. kto never writes a
# KafkaPolicy's spec and only changes a binding the policy owns; the binding's ownerReference lets Kubernetes'
# garbage collector delete it with its policy, so kto needs no delete (it deletes no Kubernetes object).
- apiGroups: [kafka.kto.dev]
  resources: [kafkapolicies]
  verbs: [list, watch]
# The apiserver lets a user create or change a ValidatingAdmissionPolicyBinding only when it may get the object
# the binding's paramRef names (the KafkaPolicy); kto itself never reads one alone.
- apiGroups: [kafka.kto.dev]
  resources: [kafkapolicies]
  verbs: [get]
- apiGroups: [kafka.kto.dev]
  resources: [kafkapolicies/status]
  verbs: [patch]
- apiGroups: [admissionregistration.k8s.io]
  resources: [validatingadmissionpolicybindings]
  verbs: [get, create, update]
{{- if eq .Values.rbac.scope "namespaces" }}
# With a namespace list (KTO_NAMESPACES) kopf lists namespaces before it serves any: without it kto stalls
# for about a minute at every start; watching them lets kto serve a listed namespace created later.
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
{{- end -}}

{{/* Leader election, in the release namespace only (both modes). */}}
{{- define "kto.leaseRules" -}}
# Creating the Lease the first time (RBAC cannot limit create to a name).
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
# Reading it (who leads, until when), and writing it to take it over, renew it and give it back: that Lease only.
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [{{ include "kto.leaseName" . }}]
  verbs: [get, update]
# kto's ledger of creates in flight (kto.ledger: one ConfigMap per kind and KafkaCluster), in this namespace only,
# where no tenant writes: what proves a topic or user kto created before its status said so.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, create, update]
{{- end -}}
