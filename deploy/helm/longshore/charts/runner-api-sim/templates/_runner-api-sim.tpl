{{/*
The Runner API simulator (tools/runner-api-sim), off by default: for trials without a
CircleCI account. Its classes and tokens default to those of the values (agent classes
with a token, provisioner classes, provisioner.circleToken as the API token), so
agent.runnerAPI and provisioner.circleciAPIAddr, when unset, point at it and work.
It needs no Kubernetes access (no service account token).
*/}}
{{- define "longshore.runner-api-sim" -}}
{{- $sim := index .Values "runner-api-sim" -}}
{{- if $sim.enabled -}}
{{- $ctx := dict "root" . "svc" "runner-api-sim" -}}
{{- $name := include "longshore.svcName" $ctx -}}
{{- $classes := $sim.classes -}}
{{- if not $classes -}}
{{- $parts := list -}}
{{- range $rc, $c := ((.Values.agent | default dict).resourceClasses | default dict) -}}
{{- if and $c $c.token }}{{ $parts = append $parts (printf "%s=%s" $rc $c.token) }}{{ end -}}
{{- end -}}
{{- range (include "longshore.provisionerClasses" . | fromJsonArray) -}}
{{- if .token }}{{ $parts = append $parts (printf "%s=%s" .name .token) }}{{ end -}}
{{- end -}}
{{- $classes = join ";" $parts -}}
{{- end -}}
{{- $apiToken := $sim.apiToken | default (.Values.provisioner | default dict).circleToken | default "" -}}
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "longshore.labels" $ctx | nindent 4 }}
type: Opaque
data:
  LONGSHORE_SIM_CLASSES: {{ $classes | toString | b64enc | quote }}
  LONGSHORE_SIM_API_TOKEN: {{ $apiToken | toString | b64enc | quote }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "longshore.labels" $ctx | nindent 4 }}
spec:
  selector:
    {{- include "longshore.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: http
      port: {{ $sim.port }}
      targetPort: http
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "longshore.labels" $ctx | nindent 4 }}
spec:
  replicas: 1
  selector:
    matchLabels:
      {{- include "longshore.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "longshore.labels" $ctx | nindent 8 }}
      annotations:
        checksum/secret: {{ printf "%s|%s" $classes $apiToken | sha256sum }}
    spec:
      automountServiceAccountToken: false
      securityContext:
        {{- toYaml .Values.global.podSecurityContext | nindent 8 }}
      {{- with .Values.global.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: runner-api-sim
          image: {{ include "longshore.image" . }}
          imagePullPolicy: {{ .Values.global.image.pullPolicy }}
          command: ["node", "dist/runner-api-sim.mjs"]
          env:
            - name: LONGSHORE_SIM_HOST
              value: "0.0.0.0"
            - name: LONGSHORE_SIM_PORT
              value: {{ $sim.port | quote }}
            - name: LONGSHORE_SIM_LOG_LEVEL
              value: {{ $sim.logLevel | quote }}
          envFrom:
            - secretRef:
                name: {{ $name }}
          ports:
            - name: http
              containerPort: {{ $sim.port }}
          livenessProbe:
            httpGet:
              path: /livez
              port: http
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
          securityContext:
            {{- toYaml .Values.global.containerSecurityContext | nindent 12 }}
          resources:
            {{- toYaml ($sim.resources | default dict) | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {}
{{- end -}}
{{- end -}}
