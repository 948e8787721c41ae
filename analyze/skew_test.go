package analyze

import (
	"strings"
	"testing"

	"github.com/trace-forensics/trace-forensics/model"
)

// In these traces a span's service is the part of its name before the
// colon; hosts, when given, map names to host values.
func testHosts(names []string, hosts map[string]string) *hostMap {
	shapes := make([]model.Shape, len(names))
	var ops []model.Op
	for i, n := range names {
		svc, _, _ := strings.Cut(n, ":")
		shapes[i].Op = uint32(len(ops))
		ops = append(ops, model.Op{Service: svc, Name: n})
		if h, ok := hosts[n]; ok {
			shapes[i].Attrs = []model.Attr{{Key: "host.name", Value: h}}
		}
	}
	h := newHostMap(shapes, ops, DefaultHostKeys)
	return &h
}

func skewed(t *testing.T, maxSkew int64, hosts map[string]string, roots ...*node) (*Trace, []string, skewIssues) {
	t.Helper()
	tr, names := build(roots...)
	var is skewIssues
	tr.adjustSkew(maxSkew, testHosts(names, hosts), nil, &is)
	return tr, names, is
}

func at(tr *Trace, names []string, name string) [2]int64 {
	s := tr.Spans[spanIndex(tr, names, name)]
	return [2]int64{s.Start, s.End}
}

func TestClockSkewCentresChildOnOtherHost(t *testing.T) {
	tr, names, is := skewed(t, 1000, nil,
		span("A:root", 0, 100,
			span("B:server", 150, 190,
				span("B:local", 160, 170),    // same host: moves with its parent
				span("C:remote", 150, 160)))) // another host: judged against the moved parent
	if got, want := at(tr, names, "B:server"), [2]int64{30, 70}; got != want {
		t.Errorf("B:server at %v, want %v (centred: (100-40)/2 = 30 after the parent's start)", got, want)
	}
	if got, want := at(tr, names, "B:local"), [2]int64{40, 50}; got != want {
		t.Errorf("B:local at %v, want %v", got, want)
	}
	if got, want := at(tr, names, "C:remote"), [2]int64{45, 55}; got != want {
		t.Errorf("C:remote at %v, want %v", got, want)
	}
	if is.adjusted != 3 || is.exceeded != 0 {
		t.Errorf("adjusted %d exceeded %d, want 3 and 0", is.adjusted, is.exceeded)
	}
	// Children lists follow the new start times.
	kids := tr.Children(int32(spanIndex(tr, names, "B:server")))
	if names[tr.Spans[kids[0]].Shape] != "B:local" {
		t.Errorf("children not re-sorted after the shift")
	}
	// The critical path now runs through the shifted spans.
	expectCP(t, critical(t, tr, names), map[string]int64{"A:root": 60, "B:server": 30, "C:remote": 10})
}

func TestClockSkewFittingChildUntouched(t *testing.T) {
	tr, names, is := skewed(t, 1000, nil, span("A:root", 0, 100, span("B:server", 10, 90)))
	if got := at(tr, names, "B:server"); got != [2]int64{10, 90} || is.adjusted != 0 {
		t.Errorf("a child that fits moved to %v (%d adjusted)", got, is.adjusted)
	}
}

// Same host: the clocks agree, so a child outside its parent is a data
// problem left to the critical path's clipping, not shifted.
func TestClockSkewSameHostNotAdjusted(t *testing.T) {
	tr, names, is := skewed(t, 1000, nil, span("A:root", 0, 100, span("A:late", 90, 120)))
	if got := at(tr, names, "A:late"); got != [2]int64{90, 120} || is.adjusted != 0 {
		t.Errorf("same-service child moved to %v", got)
	}
}

func TestClockSkewChildLongerThanParent(t *testing.T) {
	tr, names, _ := skewed(t, 1000, nil,
		span("A:root", 0, 1000,
			span("A:client", 100, 200, span("B:early", 50, 250)),
			span("A:client2", 300, 400, span("B:late", 350, 500))))
	if got := at(tr, names, "B:early"); got != [2]int64{100, 300} {
		t.Errorf("a longer child starting early should only be aligned to the parent's start: %v", got)
	}
	if got := at(tr, names, "B:late"); got != [2]int64{350, 500} {
		t.Errorf("a longer child starting inside should stay: %v", got)
	}
}

func TestClockSkewMaxExceeded(t *testing.T) {
	tr, names, is := skewed(t, 50, nil, span("A:root", 0, 100, span("B:far", 400, 440, span("B:kid", 410, 420))))
	if got := at(tr, names, "B:far"); got != [2]int64{400, 440} {
		t.Errorf("a shift over the maximum was applied: %v", got)
	}
	if got := at(tr, names, "B:kid"); got != [2]int64{410, 420} {
		t.Errorf("a same-host child moved although its parent did not: %v", got)
	}
	if is.exceeded != 1 || is.adjusted != 0 {
		t.Errorf("exceeded %d adjusted %d, want 1 and 0", is.exceeded, is.adjusted)
	}
}

func TestClockSkewDisabled(t *testing.T) {
	tr, names, is := skewed(t, 0, nil, span("A:root", 0, 100, span("B:far", 400, 440)))
	if got := at(tr, names, "B:far"); got != [2]int64{400, 440} || is.adjusted+is.exceeded != 0 {
		t.Errorf("max 0 must disable the adjustment: %v, %+v", got, is)
	}
}

func TestClockSkewAsyncChildrenNotShifted(t *testing.T) {
	tr, names, is := skewed(t, 1000, nil,
		span("A:root", 0, 100,
			span("A:publish", 90, 95, span("B:consume", 200, 203).asConsumer()).asProducer(),
			span("C:later", 300, 310).followsFrom()))
	if at(tr, names, "B:consume") != [2]int64{200, 203} || at(tr, names, "C:later") != [2]int64{300, 310} || is.adjusted != 0 {
		t.Errorf("asynchronous children were shifted: %+v", is)
	}
}

// host.name, when kept, beats the service: two services in one host share
// a clock; one service on two hosts does not.
func TestClockSkewHostAttributeBeatsService(t *testing.T) {
	hosts := map[string]string{"A:root": "h1", "B:sidecar": "h1", "A:replica": "h2"}
	tr, names, is := skewed(t, 1000, hosts,
		span("A:root", 0, 100, span("B:sidecar", 150, 160), span("A:replica", 200, 210)))
	if got := at(tr, names, "B:sidecar"); got != [2]int64{150, 160} {
		t.Errorf("same host, other service: moved to %v", got)
	}
	if got := at(tr, names, "A:replica"); got != [2]int64{45, 55} {
		t.Errorf("same service, other host: at %v, want centred at [45,55]", got)
	}
	if is.adjusted != 1 {
		t.Errorf("adjusted %d, want 1", is.adjusted)
	}
}

// With the adjustment on, CRISP's cases give CRISP's answers except where a
// child on another service does not fit its parent: there we trust the
// adjuster, which CRISP does not have.
func TestCRISPCasesWithClockSkewAdjustment(t *testing.T) {
	differ := map[string]map[string]int64{
		// B (S2, 100 µs) sticks out of A (S1, 100 µs) by 10 µs. CRISP clips
		// it (A 10, B 80, C 10); Jaeger's adjuster moves B, with its child C
		// on the same host, to start with A, so A waited on B throughout.
		"7.json": {"[S1] O1": 0, "[S2] O2": 90, "[S3] O3": 10},
	}
	for _, path := range crispFiles(t) {
		name := path[len(crispDir)+1:]
		t.Run(name, func(t *testing.T) {
			want := crispExpected(t, path)
			if d, ok := differ[name]; ok {
				want = d
			}
			got := crispOpTimesWith(t, path, int64(1e9))
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: got %d µs, want %d (got %v)", k, got[k], v, got)
				}
			}
			for k, v := range got {
				if _, ok := want[k]; !ok && v != 0 {
					t.Errorf("unexpected %s = %d µs (got %v)", k, v, got)
				}
			}
		})
	}
}
