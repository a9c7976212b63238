{{/*
The Longshore configuration file (docs/config.md) every service reads from
/etc/longshore/config.yaml: the values' agent and provisioner blocks as written, minus the
keys that configure Deployments and minus every token (tokens live in Secrets only), plus
the bus, redis, kube, http and logging blocks. NATS and Redis URLs come from the env.
*/}}

{{/* agent.* keys of CircleCI's chart that configure its Deployment (AGENT_CHART_KEYS). */}}
{{- define "longshore.agentChartKeys" -}}
{{- toJson (list "replicaCount" "image" "pullSecrets" "matchLabels" "deploymentAnnotations" "deploymentLabels" "podAnnotations" "podSecurityContext" "containerSecurityContext" "forceUpdate" "environment" "log" "loggingLevel" "dnsConfig" "livenessProbe" "readinessProbe" "resources" "nodeSelector" "tolerations" "affinity" "pdb" "existingConfigMap" "serviceContainers" "ssh" "taskImagePullSecrets" "serviceAccount" "rbac" "logging" "nameOverride" "fullnameOverride") -}}
{{- end -}}

{{- define "longshore.configYaml" -}}
{{- $v := .Values -}}
{{- $a := deepCopy ($v.agent | default dict) -}}
{{- $agent := omit $a "token" -}}
{{- range (include "longshore.agentChartKeys" . | fromJsonArray) }}{{ $agent = omit $agent . }}{{ end -}}
{{- $classes := dict -}}
{{- range $name, $rc := ($a.resourceClasses | default dict) -}}
{{- $_ := set $classes $name (omit ($rc | default dict) "token") -}}
{{- end -}}
{{- $_ := set $agent "resourceClasses" $classes -}}
{{- $_ := set $agent "customSecret" (include "longshore.tokenSecretName" .) -}}
{{- $_ := set $agent "namespace" (include "longshore.taskNamespace" .) -}}
{{- /* The chart's orchestrator.image and logging.image name the task pods' init and logging
images (agent.taskPod.initImage, loggingImage), unless agent.taskPod sets them itself. */ -}}
{{- $taskPod := deepCopy ($a.taskPod | default dict) -}}
{{- $init := include "longshore.imageRef" ((($v.orchestrator | default dict).image) | default dict) -}}
{{- if and $init (not $taskPod.initImage) }}{{ $_ := set $taskPod "initImage" $init }}{{ end -}}
{{- $logImg := include "longshore.imageRef" (omit ((($v.logging | default dict).image) | default dict) "digest") -}}
{{- if and $logImg (not $taskPod.loggingImage) }}{{ $_ := set $taskPod "loggingImage" $logImg }}{{ end -}}
{{- $logToken := include "longshore.loggingTokenSecret" . -}}
{{- if and $logToken (not $taskPod.loggingTokenSecret) }}{{ $_ := set $taskPod "loggingTokenSecret" $logToken }}{{ end -}}
{{- if $taskPod }}{{ $_ := set $agent "taskPod" $taskPod }}{{ end -}}
{{- if and (index $v "runner-api-sim").enabled (not $a.runnerAPI) -}}
{{- $_ := set $agent "runnerAPI" (include "longshore.simUrl" .) -}}
{{- end -}}
{{- $cfg := dict "agent" $agent -}}
{{- if include "longshore.provisionerEnabled" . -}}
{{- $p := deepCopy $v.provisioner -}}
{{- $prov := omit $p "circleToken" -}}
{{- if $p.resourceClass -}}
{{- $_ := set $prov "resourceClass" (omit $p.resourceClass "token") -}}
{{- end -}}
{{- if $p.resourceClasses -}}
{{- $list := list -}}
{{- range $p.resourceClasses }}{{ $list = append $list (omit . "token") }}{{ end -}}
{{- $_ := set $prov "resourceClasses" $list -}}
{{- end -}}
{{- $_ := set $prov "existingSecret" (include "longshore.provisionerSecretName" .) -}}
{{- $_ := set $prov "namespace" (include "longshore.vmNamespace" .) -}}
{{- if and (index $v "runner-api-sim").enabled (not $p.circleciAPIAddr) -}}
{{- $_ := set $prov "circleciAPIAddr" (include "longshore.simUrl" .) -}}
{{- end -}}
{{- $_ := set $cfg "provisioner" $prov -}}
{{- end -}}
{{- $bus := dict "prefix" $v.bus.prefix -}}
{{- with (include "longshore.busReplicas" .) }}{{ $_ := set $bus "replicas" (int .) }}{{ end -}}
{{- $_ := set $cfg "bus" $bus -}}
{{- $_ := set $cfg "redis" (dict "keyPrefix" $v.redis.keyPrefix) -}}
{{- $_ := set $cfg "kube" (dict "namespace" .Release.Namespace) -}}
{{- $_ := set $cfg "http" (dict "port" $v.http.port) -}}
{{- $_ := set $cfg "logging" (dict "level" (include "longshore.logLevel" .)) -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
The services' log level: logging.level (Longshore's), else the chart's agent.loggingLevel or
agent.log.level (debug, info, warn, error map directly; "warning" is warn), else info.
*/}}
{{- define "longshore.logLevel" -}}
{{- $a := .Values.agent | default dict -}}
{{- $level := ((.Values.logging | default dict).level) | default $a.loggingLevel | default (($a.log | default dict).level) | default "info" -}}
{{- if eq $level "warning" }}warn{{ else }}{{ $level }}{{ end -}}
{{- end -}}

{{/*
An image reference from registry, repository, tag and digest, composed as CircleCI's chart
does: "" without a repository; the digest (sha256: assumed when it has no algorithm) wins
over the tag; neither gives the bare repository.
*/}}
{{- define "longshore.imageRef" -}}
{{- if .repository -}}
{{- $ref := .repository -}}
{{- if .registry }}{{ $ref = printf "%s/%s" .registry .repository }}{{ end -}}
{{- if .digest -}}
{{- $d := .digest -}}
{{- if not (regexMatch "^[a-zA-Z0-9]+:" $d) }}{{ $d = printf "sha256:%s" $d }}{{ end -}}
{{- printf "%s@%s" $ref $d -}}
{{- else if .tag -}}
{{- printf "%s:%v" $ref .tag -}}
{{- else -}}
{{- $ref -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The token Secret's data: one key per class with a token, "<namespace>.<name>" (seed 000). */}}
{{- define "longshore.tokenData" -}}
{{- $out := dict -}}
{{- range $name, $rc := ((.Values.agent | default dict).resourceClasses | default dict) -}}
{{- if and $rc $rc.token -}}
{{- $_ := set $out (replace "/" "." $name) ($rc.token | toString | b64enc) -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* The provisioner Secret's data, in seed 002's existingSecret form: circle-token and a
config.yaml holding only each class's token (the rest of the class is in the config). */}}
{{- define "longshore.provisionerData" -}}
{{- $classes := dict -}}
{{- range (include "longshore.provisionerClasses" . | fromJsonArray) -}}
{{- $_ := set $classes .name (dict "token" (.token | toString)) -}}
{{- end -}}
circle-token: {{ .Values.provisioner.circleToken | toString | b64enc | quote }}
config.yaml: {{ toYaml (dict "resourceClass" $classes) | b64enc | quote }}
{{- end -}}

{{/* The env every service gets: where its config is, and the NATS and Redis URLs. */}}
{{- define "longshore.env" -}}
- name: LONGSHORE_CONFIG
  value: /etc/longshore/config.yaml
{{ include "longshore.urlEnv" (dict "root" . "name" "NATS_URL" "key" "nats" "scheme" "nats" "port" 4222) }}
{{ include "longshore.urlEnv" (dict "root" . "name" "REDIS_URL" "key" "redis" "scheme" "redis" "port" 6379) }}
{{- end -}}

{{/* "true" when the bundled NATS runs as a cluster (nats.cluster.enabled). */}}
{{- define "longshore.natsClustered" -}}
{{- $n := .Values.nats | default dict -}}
{{- if and $n.enabled (($n.cluster | default dict).enabled) }}true{{ end -}}
{{- end -}}

{{/*
The config's bus.replicas (copies of the event stream and of every KV bucket): bus.replicas
when set, else 3 with the bundled NATS clustered (JetStream keeps three copies; a five-server
cluster still keeps three), else unset (the config's default, 1).
*/}}
{{- define "longshore.busReplicas" -}}
{{- $b := .Values.bus | default dict -}}
{{- if not (kindIs "invalid" $b.replicas) }}{{ $b.replicas | int }}
{{- else if include "longshore.natsClustered" . }}3
{{- end -}}
{{- end -}}

{{/*
One URL env entry: the bundled server's Service, an external url, or a Secret's key. A
clustered bundled NATS gives every server's URL (the client tries the next when one is down).
*/}}
{{- define "longshore.urlEnv" -}}
{{- $s := index .root.Values .key -}}
- name: {{ .name }}
{{- if and (eq .key "nats") (include "longshore.natsClustered" .root) }}
{{- $root := .root -}}
{{- $urls := list -}}
{{- range $i := until (int ($s.cluster.replicas | default 3)) }}
{{- $urls = append $urls (printf "nats://%s-nats-%d.%s-nats-headless.%s.svc:4222" $root.Release.Name $i $root.Release.Name $root.Release.Namespace) }}
{{- end }}
  value: {{ join "," $urls | quote }}
{{- else if $s.enabled }}
  value: {{ printf "%s://%s-%s.%s.svc:%v" .scheme .root.Release.Name .key .root.Release.Namespace .port | quote }}
{{- else if $s.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ $s.existingSecret }}
      key: {{ $s.existingSecretKey | default "url" }}
{{- else if $s.url }}
  value: {{ $s.url | quote }}
{{- else }}
{{- fail (printf "%s.enabled is false: set %s.url or %s.existingSecret (a Secret whose key %s.existingSecretKey holds the URL)" .key .key .key .key) }}
{{- end }}
{{- end -}}
