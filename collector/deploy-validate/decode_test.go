// Package deployvalidate checks collector/deploy without a cluster or a container engine: every
// Kubernetes manifest decodes strictly into the k8s.io/api types, the kustomizations build (krusty, in
// process) into restricted-Pod-Security pods, and the compose file loads with the compose-spec loader.
// Run by test/collector/deploy.test.ts (npm test) and on its own: cd collector/deploy-validate && go test ./...
package deployvalidate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

var (
	collectorDir  = func() string { _, f, _, _ := runtime.Caller(0); return filepath.Join(filepath.Dir(f), "..") }()
	deployDir     = filepath.Join(collectorDir, "deploy")
	kubernetesDir = filepath.Join(deployDir, "kubernetes")
)

// object is one decoded manifest, with its pod template (workloads) or data (ConfigMaps) at hand.
type object struct {
	Kind, Name, Namespace string
	Obj                   any
	Pod                   *corev1.PodSpec
	ConfigMap             *corev1.ConfigMap
}

// newByKind lists the kinds we ship; anything else is an error (a typo in `kind` is caught too).
var newByKind = map[string]func() any{
	"Namespace":             func() any { return &corev1.Namespace{} },
	"ConfigMap":             func() any { return &corev1.ConfigMap{} },
	"Service":               func() any { return &corev1.Service{} },
	"ServiceAccount":        func() any { return &corev1.ServiceAccount{} },
	"PersistentVolumeClaim": func() any { return &corev1.PersistentVolumeClaim{} },
	"Deployment":            func() any { return &appsv1.Deployment{} },
	"StatefulSet":           func() any { return &appsv1.StatefulSet{} },
	"DaemonSet":             func() any { return &appsv1.DaemonSet{} },
	"Role":                  func() any { return &rbacv1.Role{} },
	"RoleBinding":           func() any { return &rbacv1.RoleBinding{} },
}

// decodeStrict decodes one YAML document into its API type, refusing unknown and duplicate fields.
func decodeStrict(doc []byte) (object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return object{}, err
	}
	mk, ok := newByKind[head.Kind]
	if !ok {
		return object{}, fmt.Errorf("unexpected kind %q (apiVersion %q)", head.Kind, head.APIVersion)
	}
	obj := mk()
	if err := unmarshalStrict(doc, obj); err != nil {
		return object{}, fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, err)
	}
	o := object{Kind: head.Kind, Name: head.Metadata.Name, Namespace: head.Metadata.Namespace, Obj: obj}
	switch v := obj.(type) {
	case *appsv1.Deployment:
		o.Pod = &v.Spec.Template.Spec
	case *appsv1.StatefulSet:
		o.Pod = &v.Spec.Template.Spec
	case *appsv1.DaemonSet:
		o.Pod = &v.Spec.Template.Spec
	case *corev1.ConfigMap:
		o.ConfigMap = v
	}
	return o, nil
}

// unmarshalStrict decodes YAML the way the API server's strict field validation does: duplicate keys,
// unknown fields and fields in the wrong case (clusterIp for clusterIP) are errors. (sigs.k8s.io/yaml's
// own UnmarshalStrict goes through encoding/json, which matches field names case-insensitively.)
func unmarshalStrict(doc []byte, into any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, into, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}

func rbSubjects(o object) []string {
	var out []string
	for _, s := range o.Obj.(*rbacv1.RoleBinding).Subjects {
		if s.Kind == "ServiceAccount" {
			out = append(out, s.Name)
		}
	}
	return out
}

// grants reports whether the Role allows every verb on the resource.
func grants(o object, group, resource string, verbs ...string) bool {
	allowed := map[string]bool{}
	for _, r := range o.Obj.(*rbacv1.Role).Rules {
		if !contains(r.APIGroups, group) || !contains(r.Resources, resource) {
			continue
		}
		for _, v := range r.Verbs {
			allowed[v] = true
		}
	}
	for _, v := range verbs {
		if !allowed[v] && !allowed["*"] {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
