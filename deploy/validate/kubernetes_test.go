package validate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// doc is one YAML document of a manifest file.
type doc struct {
	file string
	n    int
	data []byte
	kind string
}

func (d doc) String() string { return fmt.Sprintf("%s (document %d, %s)", d.file, d.n, d.kind) }

func manifests(t *testing.T) []doc {
	files, err := filepath.Glob("../kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var docs []doc
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, part := range bytes.Split(raw, []byte("\n---")) {
			var tm v1.TypeMeta
			if err := yaml.Unmarshal(part, &tm); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if tm.Kind == "" {
				continue // comments only
			}
			docs = append(docs, doc{file: filepath.Base(f), n: i, data: part, kind: tm.APIVersion + " " + tm.Kind})
		}
	}
	return docs
}

// decode decodes strictly: an unknown or misspelt field is an error.
func decode(t *testing.T, d doc, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(d.data, into); err != nil {
		t.Fatalf("%v: %v", d, err)
	}
}

// workload is what the checks need of a Deployment or StatefulSet.
type workload struct {
	doc      doc
	selector *v1.LabelSelector
	pod      corev1.PodTemplateSpec
}

func TestKubernetesManifests(t *testing.T) {
	var works []workload
	var pdbs []policyv1.PodDisruptionBudget
	for _, d := range manifests(t) {
		switch d.kind {
		case "apps/v1 Deployment":
			var o appsv1.Deployment
			decode(t, d, &o)
			works = append(works, workload{d, o.Spec.Selector, o.Spec.Template})
		case "apps/v1 StatefulSet":
			var o appsv1.StatefulSet
			decode(t, d, &o)
			works = append(works, workload{d, o.Spec.Selector, o.Spec.Template})
		case "policy/v1 PodDisruptionBudget":
			var o policyv1.PodDisruptionBudget
			decode(t, d, &o)
			pdbs = append(pdbs, o)
		case "v1 Service":
			var o corev1.Service
			decode(t, d, &o)
			if len(o.Spec.Selector) == 0 || len(o.Spec.Ports) == 0 {
				t.Errorf("%v: no selector or no ports", d)
			}
			if o.Spec.Type == corev1.ServiceTypeLoadBalancer && len(o.Spec.LoadBalancerSourceRanges) == 0 {
				t.Errorf("%v: a LoadBalancer open to every address (set loadBalancerSourceRanges)", d)
			}
		default:
			t.Errorf("%v: unexpected kind (add a check for it here)", d)
		}
	}
	if len(works) == 0 {
		t.Fatal("no Deployment or StatefulSet")
	}
	for _, w := range works {
		checkWorkload(t, w)
		sel, err := v1.LabelSelectorAsSelector(w.selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(w.pod.Labels)) {
			t.Errorf("%v: selector %v does not select its pods (%v)", w.doc, w.selector, err)
		}
		covered := false
		for _, p := range pdbs {
			ps, err := v1.LabelSelectorAsSelector(p.Spec.Selector)
			if err == nil && !ps.Empty() && ps.Matches(labels.Set(w.pod.Labels)) {
				covered = true
			}
		}
		if !covered {
			t.Errorf("%v: no PodDisruptionBudget selects its pods", w.doc)
		}
	}
}

func checkWorkload(t *testing.T, w workload) {
	spec := w.pod.Spec
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%v: pod securityContext.runAsNonRoot is not true", w.doc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%v: pod seccompProfile is not RuntimeDefault", w.doc)
	}
	if spec.TerminationGracePeriodSeconds == nil {
		t.Errorf("%v: no terminationGracePeriodSeconds", w.doc)
	}
	for _, c := range spec.Containers {
		where := fmt.Sprintf("%v container %s", w.doc, c.Name)
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("%s: needs a liveness and a readiness probe", where)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				t.Errorf("%s: no %s request", where, res)
			}
			if _, ok := c.Resources.Limits[res]; !ok {
				t.Errorf("%s: no %s limit", where, res)
			}
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", where)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation is not false", where)
		case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0:
			t.Errorf("%s: capabilities must drop ALL and add none", where)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: readOnlyRootFilesystem is not true", where)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("%s: privileged", where)
		}
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
			t.Errorf("%s: no preStop delay", where)
		} else if ps := c.Lifecycle.PreStop; ps.Sleep != nil && spec.TerminationGracePeriodSeconds != nil &&
			ps.Sleep.Seconds+10 >= *spec.TerminationGracePeriodSeconds {
			t.Errorf("%s: preStop %ds leaves no time for the 10s shutdown within the grace period", where, ps.Sleep.Seconds)
		}
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
			if p != nil && p.Exec != nil && !strings.HasPrefix(p.Exec.Command[0], "/usr/local/bin/") {
				t.Errorf("%s: an exec probe must name a binary in the image (no shell): %v", where, p.Exec.Command)
			}
		}
		state := false
		for _, p := range c.Ports {
			state = state || p.ContainerPort == 42424
		}
		if !state {
			t.Errorf("%s: does not expose 42424", where)
		}
	}
}
