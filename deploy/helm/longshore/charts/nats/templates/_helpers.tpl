{{- define "nats.selectorLabels" -}}
app.kubernetes.io/name: nats
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: nats
{{- end -}}

{{- define "nats.labels" -}}
{{ include "nats.selectorLabels" . }}
app.kubernetes.io/part-of: longshore
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
nats.conf of a clustered server (nats-server 2.9 and later): its name from the pod
($POD_NAME, set in its env), JetStream with its own store, monitoring for the probes, and a
cluster block that routes to every server by its stable DNS name (the headless Service).
Dict keys: root, name (<release>-nats), headless (its headless Service), replicas.
*/}}
{{- define "nats.clusterConfig" -}}
{{- $ns := .root.Release.Namespace -}}
server_name: $POD_NAME
listen: 0.0.0.0:4222
http: 0.0.0.0:8222
jetstream {
  store_dir: /data
}
cluster {
  name: {{ .name }}
  listen: 0.0.0.0:6222
  routes: [
    {{- range $i := until (int .replicas) }}
    nats://{{ $.name }}-{{ $i }}.{{ $.headless }}.{{ $ns }}.svc:6222
    {{- end }}
  ]
}
{{- end -}}
