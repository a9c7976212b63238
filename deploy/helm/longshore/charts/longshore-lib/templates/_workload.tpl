{{/*
The objects every Longshore service has: a ServiceAccount, RBAC (a Role with its binding,
or a ClusterRole), and a Deployment running `node dist/<svc>.mjs` (the service's bundle) from the one
Longshore image. Arguments are dicts with `root` (the umbrella's context) and `svc`.
*/}}

{{/*
The ServiceAccount a service runs as. serviceAccount.* (seed 000) applies to every
Longshore service: create=true gives each service its own account, <fullname>-<svc>
(<serviceAccount.name>-<svc> when a name is set); create=false runs them all as
serviceAccount.name, or the namespace's default account.
serviceAccount.automountServiceAccountToken goes on the accounts, as in CircleCI's chart;
the pods still mount their token (automountServiceAccountToken: true in the pod spec wins),
because every service talks to the apiserver with it.
*/}}
{{- define "longshore.serviceAccountName" -}}
{{- $sa := .root.Values.serviceAccount | default dict -}}
{{- if $sa.create -}}
{{- if $sa.name }}{{ printf "%s-%s" $sa.name .svc }}{{ else }}{{ include "longshore.svcName" . }}{{ end -}}
{{- else -}}
{{- $sa.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "longshore.serviceAccount" -}}
{{- $sa := .root.Values.serviceAccount | default dict -}}
{{- if $sa.create }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "longshore.serviceAccountName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "longshore.labels" . | nindent 4 }}
  {{- with $sa.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ ternary $sa.automountServiceAccountToken true (hasKey $sa "automountServiceAccountToken") }}
{{- end }}
{{- end -}}

{{/* A Role in `namespace` with `rules`, bound to the service's account (rbac.create, seed 000). */}}
{{- define "longshore.role" -}}
{{- if (.root.Values.rbac | default dict).create }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ include "longshore.svcName" . }}
  namespace: {{ .namespace }}
  labels:
    {{- include "longshore.labels" . | nindent 4 }}
rules:
  {{- toYaml .rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ include "longshore.svcName" . }}
  namespace: {{ .namespace }}
  labels:
    {{- include "longshore.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ include "longshore.svcName" . }}
subjects:
  - kind: ServiceAccount
    name: {{ include "longshore.serviceAccountName" . }}
    namespace: {{ .root.Release.Namespace }}
{{- end }}
{{- end -}}

{{/* A ClusterRole with `rules` and its binding; named with the namespace, as it is cluster-wide. */}}
{{- define "longshore.clusterRole" -}}
{{- if (.root.Values.rbac | default dict).create }}
{{- $name := printf "%s-%s" (include "longshore.svcName" .) .root.Release.Namespace }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ $name }}
  labels:
    {{- include "longshore.labels" . | nindent 4 }}
rules:
  {{- toYaml .rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name }}
  labels:
    {{- include "longshore.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ include "longshore.serviceAccountName" . }}
    namespace: {{ .root.Release.Namespace }}
{{- end }}
{{- end -}}

{{/* A service's replicas: <svc>.replicaCount (0 is kept: scaled to zero), else 1. */}}
{{- define "longshore.ownReplicas" -}}
{{- $own := index .root.Values .svc | default dict -}}
{{- if and (hasKey $own "replicaCount") (not (kindIs "invalid" $own.replicaCount)) }}{{ $own.replicaCount | int }}{{ else }}1{{ end -}}
{{- end -}}

{{/*
A service's Deployment. Extra dict keys:
  agentSide  the container runner's services: agent.* pod settings apply (seed 000)
  grace      terminationGracePeriodSeconds
  replicas   default 1 (agent.replicaCount 0 is kept: scaled to zero)
  checksums  dict of annotation suffix -> content whose sha256 rolls the pods on change
The agent-side services also get the chart's agent.deploymentLabels and
deploymentAnnotations (on the Deployment; the chart's own labels win), agent.environment
(after Longshore's env, which it cannot replace) and agent.dnsConfig.ndots.
With more than one replica the pods prefer different nodes (pod anti-affinity by host
name), so one node going away takes one replica; the user's affinity is kept, and their
own podAntiAffinity replaces ours.
*/}}
{{- define "longshore.deployment" -}}
{{- $v := .root.Values -}}
{{- $agent := $v.agent | default dict -}}
{{- $own := index $v .svc | default dict -}}
{{- $side := ternary $agent dict (default false .agentSide) -}}
{{- $replicas := hasKey . "replicas" | ternary .replicas 1 | int -}}
{{- $affinity := deepCopy ($own.affinity | default $side.affinity | default dict) -}}
{{- $resources := $own.resources | default $side.resources -}}
{{- $userEnv := $side.environment | default dict -}}
{{- if and (gt $replicas 1) (not (hasKey $affinity "podAntiAffinity")) -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "longshore.selectorLabels" . | fromYaml)) -}}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "podAffinityTerm" $term))) -}}
{{- end -}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "longshore.svcName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- toYaml (merge (include "longshore.labels" . | fromYaml) (include "longshore.stringMap" ($side.deploymentLabels | default dict) | fromYaml)) | nindent 4 }}
  {{- with ($side.deploymentAnnotations) }}
  annotations:
    {{- include "longshore.stringMap" . | nindent 4 }}
  {{- end }}
spec:
  replicas: {{ $replicas }}
  selector:
    matchLabels:
      {{- include "longshore.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "longshore.labels" . | nindent 8 }}
      annotations:
        checksum/config: {{ include "longshore.configYaml" .root | sha256sum }}
        {{- range $k, $content := (.checksums | default dict) }}
        checksum/{{ $k }}: {{ $content | sha256sum }}
        {{- end }}
        {{- with (merge (dict) ($own.podAnnotations | default dict) ($side.podAnnotations | default dict)) }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "longshore.serviceAccountName" . }}
      automountServiceAccountToken: true
      terminationGracePeriodSeconds: {{ .grace | default 30 }}
      securityContext:
        {{- toYaml (merge (dict) ($side.podSecurityContext | default dict) $v.global.podSecurityContext) | nindent 8 }}
      {{- with (concat ($v.global.imagePullSecrets | default list) ($side.pullSecrets | default list)) }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .svc }}
          image: {{ include "longshore.image" .root }}
          imagePullPolicy: {{ $v.global.image.pullPolicy }}
          command: ["node", "{{ .path | default (printf "dist/%s.mjs" .svc) }}"]
          env:
            {{- include "longshore.env" .root | nindent 12 }}
            # Who this is (libs/runtime/src/names.ts): the pod's own name tells replicas apart;
            # the Deployment's name is the runner's name when agent.name is unset (seed 000).
            - name: LONGSHORE_INSTANCE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            - name: LONGSHORE_DEPLOYMENT
              value: {{ include "longshore.svcName" . | quote }}
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- if and (not $resources) (not (hasKey $userEnv "NODE_OPTIONS")) }}
            # The image's V8 flags with the old generation sized to the default memory limit
            # below (the image's own 512 MB would let the heap outgrow it).
            - name: NODE_OPTIONS
              value: {{ include "longshore.defaultNodeOptions" . | quote }}
            {{- end }}
            {{- with (include "longshore.userEnv" (dict "env" ($side.environment | default dict) "reserved" (list "LONGSHORE_CONFIG" "NATS_URL" "REDIS_URL" "LONGSHORE_INSTANCE" "LONGSHORE_DEPLOYMENT"))) }}
            {{- . | trim | nindent 12 }}
            {{- end }}
          ports:
            # One port (http.port) serves /livez, /readyz and /metrics. It is named for what
            # a scraper looks for: the chart's ServiceMonitor and PodMonitor (metrics.*)
            # address it by this name.
            - name: metrics
              containerPort: {{ $v.http.port }}
          livenessProbe:
            httpGet:
              path: /livez
              port: metrics
            periodSeconds: 10
            failureThreshold: 6
          readinessProbe:
            httpGet:
              path: /readyz
              port: metrics
            periodSeconds: 5
          securityContext:
            {{- toYaml (merge (dict) ($side.containerSecurityContext | default dict) $v.global.containerSecurityContext) | nindent 12 }}
          resources:
            {{- toYaml ($resources | default (include "longshore.defaultResources" . | fromYaml)) | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: /etc/longshore
              readOnly: true
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: config
          configMap:
            name: {{ include "longshore.fullname" .root }}-config
        - name: tmp
          emptyDir: {}
      {{- with ($side.dnsConfig | default dict) }}
      {{- if hasKey . "ndots" }}
      dnsConfig:
        options:
          - name: ndots
            value: {{ .ndots | toString | quote }}
      {{- end }}
      {{- end }}
      {{- with ($own.nodeSelector | default $side.nodeSelector) }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with ($own.tolerations | default $side.tolerations) }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
# The service's HTTP port (/livez, /readyz, /metrics) under a stable name: `helm test`
# checks readiness through it, the chart's ServiceMonitor scrapes it by its name, and it is
# what a port-forward addresses.
apiVersion: v1
kind: Service
metadata:
  name: {{ include "longshore.svcName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "longshore.labels" . | nindent 4 }}
spec:
  selector:
    {{- include "longshore.selectorLabels" . | nindent 4 }}
  ports:
    - name: metrics
      port: {{ $v.http.port }}
      targetPort: metrics
{{- end -}}

{{/* The grace period of the services that drain tasks: agent.terminationGracePeriodSeconds (seed 000). */}}
{{- define "longshore.grace" -}}
{{- $a := .Values.agent | default dict -}}
{{- if hasKey $a "terminationGracePeriodSeconds" }}{{ $a.terminationGracePeriodSeconds | int64 }}{{ else }}18300{{ end -}}
{{- end -}}


{{/* A map's values as strings (labels, annotations), as YAML. */}}
{{- define "longshore.stringMap" -}}
{{- $out := dict -}}
{{- range $k, $v := . }}{{ $_ := set $out $k (toString $v) }}{{ end -}}
{{- if $out }}{{ toYaml $out }}{{ end -}}
{{- end -}}

{{/* agent.environment (name -> value) as env entries; Longshore's own names are refused. */}}
{{- define "longshore.userEnv" -}}
{{- $reserved := .reserved -}}
{{- range $k, $v := .env }}
{{- if has $k $reserved }}{{ fail (printf "agent.environment.%s: set by the chart, not overridable" $k) }}{{ end }}
- name: {{ $k | quote }}
  value: {{ toString $v | quote }}
{{- end }}
{{- end -}}

{{/*
A PodDisruptionBudget for a service's pods. Extra dict keys:
  pdb       the settings: create, minAvailable or maxUnavailable (seed 000's agent.pdb shape)
  key       where they are in the values, for the error message (agent.pdb, scheduler.pdb)
  replicas  the service's replicas
Rendered when `create` says so, or, with `create` unset, when there is more than one
replica (a budget over one pod would either block node drains or allow nothing).
Neither number set: maxUnavailable 1, so a drain moves one replica at a time.
*/}}
{{- define "longshore.pdb" -}}
{{- $pdb := .pdb | default dict -}}
{{- $create := gt (int .replicas) 1 -}}
{{- if not (kindIs "invalid" $pdb.create) }}{{ $create = $pdb.create }}{{ end -}}
{{- if $create }}
{{- $min := $pdb.minAvailable -}}
{{- $max := $pdb.maxUnavailable -}}
{{- if and (not (kindIs "invalid" $min)) (not (kindIs "invalid" $max)) }}
{{- fail (printf "%s: set minAvailable or maxUnavailable, not both (a PodDisruptionBudget takes one)" .key) }}
{{- end }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "longshore.svcName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "longshore.labels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" $min) }}
  minAvailable: {{ toJson $min }}
  {{- else if not (kindIs "invalid" $max) }}
  maxUnavailable: {{ toJson $max }}
  {{- else }}
  maxUnavailable: 1
  {{- end }}
  selector:
    matchLabels:
      {{- include "longshore.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
A service's resources when the values give none, from the benchmark's figures
(bench/README.md, README "Performance"): peak RSS 94 to 116 MB per service over 1,000 tasks
at concurrency 20, live heaps 20 to 40 MB; CPU 8 to 15 s per 1,000 tasks for the claimer
and the scheduler (about 0.1 to 0.2 of a core at 14 tasks/s), less for the others. The
request is the measured peak, the limit twice that; no CPU limit (throttling a busy
claimer only slows claiming).
*/}}
{{- define "longshore.defaultResources" -}}
requests:
  cpu: 100m
  memory: 128Mi
limits:
  memory: 256Mi
{{- end -}}

{{/*
NODE_OPTIONS for the default limit: the image's flags (Dockerfile) with an old generation of
160 MB instead of 512, so V8 collects before the 256 MiB limit is reached. With resources of
your own, set NODE_OPTIONS in agent.environment to match (docs: deploy/README.md).
*/}}
{{- define "longshore.defaultNodeOptions" -}}
--max-semi-space-size=1 --max-old-space-size=160 --v8-pool-size=1
{{- end -}}
