{{/*
The GC: lists our labelled task pods and Secrets and deletes old and orphaned ones
(services/gc/src/sweeper.ts). With agent.gc.enabled false it idles, and has no Role.
*/}}
{{- define "longshore.gc" -}}
{{- $ctx := dict "root" . "svc" "gc" -}}
{{- include "longshore.serviceAccount" $ctx }}
{{- if include "longshore.gcEnabled" . }}
{{ include "longshore.role" (merge (dict "namespace" (include "longshore.taskNamespace" .) "rules" (list
  (dict "apiGroups" (list "") "resources" (list "pods" "secrets") "verbs" (list "list" "delete"))
)) $ctx) }}
{{- end }}
{{ include "longshore.deployment" (merge (dict "agentSide" true) $ctx) }}
{{- end -}}

{{/* agent.gc.enabled, or the chart's agent.kubeGCEnabled; on by default (seed 000). */}}
{{- define "longshore.gcEnabled" -}}
{{- $a := .Values.agent | default dict -}}
{{- $gc := $a.gc | default dict -}}
{{- $on := true -}}
{{- if hasKey $gc "enabled" }}{{ $on = $gc.enabled }}{{ else if hasKey $a "kubeGCEnabled" }}{{ $on = $a.kubeGCEnabled }}{{ end -}}
{{- if $on }}true{{ end -}}
{{- end -}}
