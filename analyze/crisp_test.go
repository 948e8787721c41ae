package analyze

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/trace-forensics/trace-forensics/sources"
)

// CRISP's golden cases (uber-research/CRISP test_cases, see
// ../../shared/testdata/crisp/README.md), read in place, never copied.
// Without clock-skew adjustment (CRISP has none) every case gives CRISP's
// answer; TestCRISPCasesWithClockSkewAdjustment says where the adjustment
// changes one. Our one rule CRISP lacks (a sibling that starts after the
// path child it overlaps is not chained in) is tested in
// TestCriticalPathSiblingOverlapBeyondTolerance: no CRISP case has that shape.
const crispDir = "../../shared/testdata/crisp"

func crispFiles(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat(crispDir); err != nil {
		t.Skipf("CRISP cases not found at %s (%v): skipping", crispDir, err)
	}
	var files []string
	err := filepath.WalkDir(crispDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// crispExpected reads a case's expected exclusive critical-path times:
// testing[0] in cases 1–10, testing.opTimeExclusive in the others.
func crispExpected(t *testing.T, path string) map[string]int64 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Testing json.RawMessage `json:"testing"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var list []map[string]int64
	if json.Unmarshal(doc.Testing, &list) == nil {
		if len(list) != 1 {
			t.Fatalf("%s: testing holds %d maps, want 1", path, len(list))
		}
		return list[0]
	}
	var m struct {
		OpTimeExclusive map[string]int64 `json:"opTimeExclusive"`
	}
	if err := json.Unmarshal(doc.Testing, &m); err != nil || m.OpTimeExclusive == nil {
		t.Fatalf("%s: no testing[0] or testing.opTimeExclusive (%v)", path, err)
	}
	return m.OpTimeExclusive
}

// crispOpTimes computes our exclusive critical-path time per "[service]
// operation" in the file's unit (µs), without clock-skew adjustment (CRISP
// has none).
func crispOpTimes(t *testing.T, path string) map[string]int64 {
	t.Helper()
	return crispOpTimesWith(t, path, 0)
}

func crispOpTimesWith(t *testing.T, path string, maxSkew int64) map[string]int64 {
	t.Helper()
	ds, err := sources.Load(context.Background(), []string{path}, sources.Options{})
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	traces := datasetTraces(ds)
	if len(traces) != 1 {
		t.Fatalf("%s: %d traces, want 1", path, len(traces))
	}
	tr := traces[0]
	tr.assemble()
	ops, shapes := ds.Catalog.Ops(), ds.Catalog.Shapes()
	hosts := newHostMap(shapes, ops, DefaultHostKeys)
	var sk skewIssues
	tr.adjustSkew(maxSkew, &hosts, nil, &sk)
	cp := make([]int64, len(tr.Spans))
	var sc cpScratch
	var is cpIssues
	tr.criticalPath(&sc, cp, nil, &is)
	got := map[string]int64{}
	for i := range tr.Spans {
		if cp[i] == 0 && !onPath(tr, cp, int32(i)) {
			continue
		}
		op := ops[shapes[tr.Spans[i].Shape].Op]
		got["["+op.Service+"] "+op.Name] += cp[i] / 1000
	}
	return got
}

// onPath: a span with no time of its own is still on the path when it has
// a descendant with time, which CRISP lists with 0.
func onPath(tr *Trace, cp []int64, i int32) bool {
	stack := []int32{i}
	for len(stack) > 0 {
		j := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if cp[j] > 0 {
			return true
		}
		stack = append(stack, tr.Children(j)...)
	}
	return false
}

// datasetTraces groups a dataset's spans into traces (tests only).
func datasetTraces(ds *model.Dataset) []*Trace {
	by := map[model.TraceID]*Trace{}
	var order []model.TraceID
	for b := range model.NumBuckets {
		for _, slab := range ds.Bucket(b) {
			for _, s := range slab {
				tr := by[s.Trace]
				if tr == nil {
					tr = &Trace{ID: s.Trace}
					by[s.Trace] = tr
					order = append(order, s.Trace)
				}
				tr.Spans = append(tr.Spans, s)
			}
		}
	}
	sort.Slice(order, func(i, j int) bool { return string(order[i][:]) < string(order[j][:]) })
	out := make([]*Trace, len(order))
	for i, id := range order {
		out[i] = by[id]
	}
	return out
}

func TestCRISPCases(t *testing.T) {
	for _, path := range crispFiles(t) {
		name, _ := filepath.Rel(crispDir, path)
		t.Run(name, func(t *testing.T) {
			want := crispExpected(t, path)
			got := crispOpTimes(t, path)
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: got %d µs, want %d (all: got %v, want %v)", k, got[k], v, got, want)
				}
			}
			for k, v := range got {
				if _, ok := want[k]; !ok && v != 0 {
					t.Errorf("unexpected %s = %d µs (all: got %v, want %v)", k, v, got, want)
				}
			}
		})
	}
}
