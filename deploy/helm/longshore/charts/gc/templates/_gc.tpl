{{/*
The GC: lists our labelled task pods and Secrets and deletes old and orphaned ones
(services/gc/src/sweeper.ts). With agent.gc.enabled false it idles, and has no Role.
Replicas (gc.replicaCount) sweep in turns: one sweep per interval, under a Redis lease.
*/}}
{{- define "longshore.gc" -}}
{{- $ctx := dict "root" . "svc" "gc" -}}
{{- $replicas := include "longshore.ownReplicas" $ctx | int -}}
{{- include "longshore.serviceAccount" $ctx }}
{{- include "longshore.pdb" (merge (dict "pdb" .Values.gc.pdb "key" "gc.pdb" "replicas" $replicas) $ctx) }}
{{- if include "longshore.gcEnabled" . }}
{{ include "longshore.role" (merge (dict "namespace" (include "longshore.taskNamespace" .) "rules" (list
  (dict "apiGroups" (list "") "resources" (list "pods" "secrets") "verbs" (list "list" "delete"))
)) $ctx) }}
{{- end }}
{{ include "longshore.deployment" (merge (dict "agentSide" true "replicas" $replicas) $ctx) }}
{{- end -}}

{{/* The chart's agent.kubeGCEnabled, else agent.gc.enabled (CircleCI's chart reads them in
that order, as the config loader does); on by default (seed 000). */}}
{{- define "longshore.gcEnabled" -}}
{{- $a := .Values.agent | default dict -}}
{{- $gc := $a.gc | default dict -}}
{{- $on := true -}}
{{- if not (kindIs "invalid" $a.kubeGCEnabled) }}{{ $on = $a.kubeGCEnabled }}{{ else if not (kindIs "invalid" $gc.enabled) }}{{ $on = $gc.enabled }}{{ end -}}
{{- if $on }}true{{ end -}}
{{- end -}}
